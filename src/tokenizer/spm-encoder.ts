import { BinaryHeap } from './binary-heap.js';
import { mergeSymbols } from './merge-symbols.js';
import type { Vocab } from './vocab.js';

interface Bigram {
  readonly left: number;
  readonly right: number;
  readonly score: number;
  /** UTF-16 length of left + right when queued; a mismatch later means it is stale */
  readonly size: number;
}

/** Highest score first, then leftmost (llama.cpp's llm_bigram_spm::comparator). */
const isBefore = (a: Bigram, b: Bigram): boolean => a.score > b.score || (a.score === b.score && a.left < b.left);

const textEncoder = new TextEncoder();

/**
 * SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session does it: start from single
 * characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring
 * vocabulary entry, and spell characters that never became tokens as <0xNN> byte tokens.
 * `text` already has its spaces replaced by U+2581.
 */
export class SpmEncoder {
  // [256] token id of each byte's <0xNN> token (or the byte itself), -1 if absent
  private readonly byteTokens: Int32Array;

  constructor(private readonly vocab: Vocab) {
    this.byteTokens = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      const id = vocab.idByText.get(`<0x${hex}>`) ?? (b < 0x80 ? vocab.idByText.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteTokens[b] = id;
    }
  }

  encode(text: string, out: number[]): void {
    const { idByText, scores } = this.vocab;
    // symbols: [n] UTF-16 start and length of each (merged) symbol, linked list over them
    const n = text.length;
    const start = new Int32Array(n);
    const len = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    let numSymbols = 0;
    for (let i = 0; i < n; ) {
      const units = text.charCodeAt(i) >= 0xd800 && text.charCodeAt(i) <= 0xdbff && i + 1 < n ? 2 : 1;
      start[numSymbols] = i;
      len[numSymbols] = units;
      prev[numSymbols] = numSymbols - 1;
      i += units;
      next[numSymbols] = i === n ? -1 : numSymbols + 1;
      numSymbols++;
    }
    if (numSymbols === 0) return;

    const queue = new BinaryHeap<Bigram>(isBefore);
    const tryAddBigram = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const size = len[left]! + len[right]!;
      const id = idByText.get(text.slice(start[left]!, start[left]! + size));
      if (id === undefined) return;
      queue.push({ left, right, score: scores[id]!, size });
    };
    for (let i = 1; i < numSymbols; i++) tryAddBigram(i - 1, i);

    mergeSymbols(queue, len, prev, next, tryAddBigram);

    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.slice(start[i]!, start[i]! + len[i]!);
      const id = idByText.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // a character with no token of its own: one byte token per UTF-8 byte
      for (const byte of textEncoder.encode(piece)) {
        const byteId = this.byteTokens[byte]!;
        if (byteId >= 0) out.push(byteId);
        else if (this.vocab.unkId !== undefined) out.push(this.vocab.unkId);
      }
    }
  }
}
