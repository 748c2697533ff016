import { InvalidRequestError } from '../errors/engine-error.js';
import { BpeEncoder } from './bpe-encoder.js';
import { byteLevelToByte } from './byte-level.js';
import { cleanUpSpaces } from './clean-up-spaces.js';
import { partitionSpecial } from './special-partition.js';
import { SpmEncoder } from './spm-encoder.js';
import { TokenAttr } from './token-attr.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './tokenizer.js';
import type { TokenizerModel, Vocab } from './vocab.js';

const EMPTY = new Uint8Array(0);
const SPACE_ESCAPE = '\u2581';
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Replaces lone surrogates with U+FFFD, as encoding the string to UTF-8 would. */
function toWellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The tokenizer of a GGUF vocabulary: SentencePiece or BPE encoding, llama.cpp's pieces and detokenization. */
export class GgufTokenizer implements Tokenizer {
  readonly model: TokenizerModel;
  readonly preTokenizer: string;
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly eotId: number | undefined;
  readonly padId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  private readonly encoder: SpmEncoder | BpeEncoder;
  // [vocabSize] bytes of each token's piece as rendered with special=true, filled on demand
  private readonly pieces: (Uint8Array | undefined)[];
  private maxTokenBytesCache: number | undefined;

  constructor(private readonly vocab: Vocab) {
    this.model = vocab.model;
    this.preTokenizer = vocab.preName;
    this.vocabSize = vocab.texts.length;
    this.bosId = vocab.bosId;
    this.eosId = vocab.eosId;
    this.eotId = vocab.eotId;
    this.padId = vocab.padId;
    this.addBos = vocab.addBos && vocab.bosId !== undefined;
    this.addEos = vocab.addEos && vocab.eosId !== undefined;
    this.addSpacePrefix = vocab.addSpacePrefix;
    this.encoder = vocab.isSpm ? new SpmEncoder(vocab) : new BpeEncoder(vocab);
    this.pieces = new Array(this.vocabSize);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const fragments = partitionSpecial(toWellFormed(text), this.vocab, options.parseSpecial ?? false);
    const out: number[] = [];
    if (addSpecial && this.addBos) out.push(this.bosId!);
    if (this.vocab.isSpm) {
      let isPrevSpecial = true; // the text gets a space prefix at the start and after each special token
      for (const fragment of fragments) {
        if (fragment.kind === 'token') {
          out.push(fragment.id);
          isPrevSpecial = true;
          continue;
        }
        const spaced = this.addSpacePrefix && isPrevSpecial ? ` ${fragment.text}` : fragment.text;
        this.encoder.encode(spaced.replaceAll(' ', SPACE_ESCAPE), out);
        isPrevSpecial = false;
      }
    } else {
      for (const fragment of fragments) {
        if (fragment.kind === 'token') out.push(fragment.id);
        else this.encoder.encode(this.vocab.escapesWhitespace ? fragment.text.replaceAll(' ', SPACE_ESCAPE) : fragment.text, out);
      }
    }
    if (addSpecial && this.addEos) out.push(this.eosId!);
    return out;
  }

  tokenBytes(id: number, special = false): Uint8Array {
    return this.piece(id, special).slice();
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const special = options.special ?? false;
    const parts: Uint8Array[] = [];
    let numBytes = 0;
    for (let i = 0; i < ids.length; i++) {
      let piece = this.piece(ids[i]!, special);
      if (i === 0 && this.addSpacePrefix && piece[0] === 0x20) piece = piece.subarray(1);
      parts.push(piece);
      numBytes += piece.length;
    }
    let bytes: Uint8Array = new Uint8Array(numBytes);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    if (this.vocab.cleansSpaces) bytes = cleanUpSpaces(bytes);
    return textDecoder.decode(bytes);
  }

  isEndOfGeneration(id: number): boolean {
    return this.vocab.endOfGenerationIds.has(id);
  }

  isControl(id: number): boolean {
    this.checkId(id);
    return (this.vocab.attrs[id]! & TokenAttr.CONTROL) !== 0;
  }

  tokenText(id: number): string {
    this.checkId(id);
    return this.vocab.texts[id]!;
  }

  tokenId(text: string): number | undefined {
    return this.vocab.idByText.get(text);
  }

  /** computed once, on first use (a pass over the vocabulary) */
  get maxTokenBytes(): number {
    if (this.maxTokenBytesCache === undefined) {
      let max = 8; // an unknown token may stand for a character of up to 4 bytes: keep a margin
      for (let id = 0; id < this.vocabSize; id++) max = Math.max(max, Buffer.byteLength(this.vocab.texts[id]!), this.piece(id, true).length);
      this.maxTokenBytesCache = max;
    }
    return this.maxTokenBytesCache;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InvalidRequestError('INVALID_TOKEN', `token id ${id} is out of range (vocabulary has ${this.vocabSize} tokens)`);
    }
  }

  /** the cached bytes of a token's piece (callers must not modify them) */
  private piece(id: number, special: boolean): Uint8Array {
    this.checkId(id);
    if (!special && this.vocab.attrs[id]! & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) return EMPTY;
    return (this.pieces[id] ??= this.renderPiece(id));
  }

  /** llama.cpp's token_to_piece with special=true */
  private renderPiece(id: number): Uint8Array {
    const attr = this.vocab.attrs[id]!;
    const text = this.vocab.texts[id]!;
    if (attr & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return textEncoder.encode(text);
    if (attr & TokenAttr.NORMAL) {
      if (this.vocab.isSpm || this.vocab.escapesWhitespace) return textEncoder.encode(text.replaceAll(SPACE_ESCAPE, ' '));
      return decodeByteLevel(text);
    }
    if (attr & TokenAttr.BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16) || 0);
    return EMPTY;
  }
}

/** GPT-2 byte-level text → bytes (llama_decode_text, including its marker for characters outside the alphabet). */
function decodeByteLevel(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const ch of text) {
    const byte = byteLevelToByte(ch.codePointAt(0)!);
    if (byte >= 0) {
      bytes.push(byte);
      continue;
    }
    const utf8 = textEncoder.encode(ch);
    const hex = Array.from(utf8, (b) => b.toString(16).padStart(2, '0')).join('');
    bytes.push(...textEncoder.encode(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return Uint8Array.from(bytes);
}
