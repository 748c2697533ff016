import { invariant } from '../errors/engine-error.js';
import { BinaryHeap } from './binary-heap.js';
import { mergeSymbols } from './merge-symbols.js';
import { toByteLevel } from './byte-level.js';
import { RegexSplitter } from './regex-split.js';
import type { Vocab } from './vocab.js';

interface Bigram {
  readonly left: number;
  readonly right: number;
  readonly rank: number;
  /** length of left + right when queued; a mismatch later means it is stale */
  readonly size: number;
}

/** Lowest merge rank first, then leftmost (llama.cpp's llm_bigram_bpe::comparator). */
const isBefore = (a: Bigram, b: Bigram): boolean => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

const MAX_CACHED_WORDS = 8192;
const textEncoder = new TextEncoder();

/**
 * Byte-pair encoding as llama.cpp's llm_tokenizer_bpe_session does it: pre-tokenize into words,
 * map each word to GPT-2's byte-level alphabet (or keep raw UTF-8 for SPM-style BPE), then
 * merge adjacent symbols by merge rank. Symbols that are not tokens fall back to one token per
 * byte where the vocabulary has one (ASCII characters, or <0xNN> tokens), else are dropped.
 */
export class BpeEncoder {
  private readonly splitter: RegexSplitter;
  private readonly isByteEncoded: boolean;
  private readonly ignoresMerges: boolean;
  private readonly hasNewlineRule: boolean;
  /** word → ids; words repeat a lot in real text */
  private readonly cache = new Map<string, readonly number[]>();

  constructor(private readonly vocab: Vocab) {
    const pre = vocab.pre;
    invariant(pre !== undefined, 'BPE vocab without a pre-tokenizer');
    this.splitter = new RegexSplitter(pre.expressions);
    this.isByteEncoded = pre.isByteEncoded;
    this.ignoresMerges = pre.ignoresMerges;
    this.hasNewlineRule = pre.kind === 'gemma4';
  }

  encode(text: string, out: number[]): void {
    for (const word of this.splitter.split(text)) {
      if (word.length === 0) continue;
      let ids = this.cache.get(word);
      if (ids === undefined) {
        const wordIds: number[] = [];
        this.encodeWord(this.isByteEncoded ? toByteLevel(word) : word, wordIds);
        if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
        this.cache.set(word, wordIds);
        ids = wordIds;
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string, out: number[]): void {
    const { idByText, mergeRanks } = this.vocab;
    if (this.ignoresMerges || (this.hasNewlineRule && /^\n+$/.test(word))) {
      const id = idByText.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }

    // symbols: [n] UTF-16 start and length, linked list over the live ones
    const n = word.length;
    const start = new Int32Array(n);
    const len = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    let numSymbols = 0;
    for (let i = 0; i < n; ) {
      const c = word.charCodeAt(i);
      const units = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
      start[numSymbols] = i;
      len[numSymbols] = units;
      prev[numSymbols] = numSymbols - 1;
      i += units;
      next[numSymbols] = i === n ? -1 : numSymbols + 1;
      numSymbols++;
    }

    const queue = new BinaryHeap<Bigram>(isBefore);
    const addBigram = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const l = word.slice(start[left]!, start[left]! + len[left]!);
      const r = word.slice(start[right]!, start[right]! + len[right]!);
      const rank = mergeRanks.get(`${l} ${r}`);
      if (rank === undefined) return;
      queue.push({ left, right, rank, size: len[left]! + len[right]! });
    };
    for (let i = 1; i < numSymbols; i++) addBigram(i - 1, i);

    mergeSymbols(queue, len, prev, next, addBigram);

    for (let i = 0; i < numSymbols; i++) {
      if (len[i] === 0) continue;
      const piece = word.slice(start[i]!, start[i]! + len[i]!);
      const id = idByText.get(piece);
      if (id !== undefined) out.push(id);
      else this.pushByteFallback(piece, out);
    }
  }

  private pushByteFallback(piece: string, out: number[]): void {
    const { idByText } = this.vocab;
    for (const byte of textEncoder.encode(piece)) {
      let id: number | undefined;
      if (this.isByteEncoded) {
        // llama.cpp looks each raw byte up as a one-byte token; only ASCII bytes can match
        if (byte < 0x80) id = idByText.get(String.fromCharCode(byte));
      } else {
        id = idByText.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
      }
      if (id !== undefined) out.push(id);
    }
  }
}
