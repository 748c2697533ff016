/**
 * Synthetic tokenizer vocabularies, as GGUF `tokenizer.*` metadata that llama.cpp accepts:
 * - 'spm': a Llama 2 style SentencePiece vocab (<unk>, <s>, </s>, 256 byte tokens, scored pieces);
 * - 'bpe': a Llama 3 style GPT-2 byte-level BPE vocab (256 byte tokens, merges, <|...|> specials);
 * - 'qwen2': the same byte-level BPE with Qwen2's pre-tokenizer and specials (<|endoftext|>,
 *   <|im_start|>, <|im_end|>; no BOS added; ChatML template), as Qwen2 and Qwen3 files have;
 * - { copyFrom }: every tokenizer.* key of an existing GGUF.
 * Generated pieces are English-like letter strings grown by concatenating earlier pieces, so every
 * piece is reachable by the tokenizer's merges and ordinary text splits into multi-letter tokens.
 */
import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { gguf, GgufValueType, readGguf, type GgufValue } from '../formats/gguf/index.js';
import { Rng } from '../util/rng.js';

export type BpePreTokenizer = 'llama-bpe' | 'gpt-2' | 'qwen2';

export type SyntheticVocabSpec =
  | 'spm'
  | 'bpe'
  | 'qwen2'
  | { readonly kind: 'spm' }
  | { readonly kind: 'bpe'; readonly pre?: BpePreTokenizer }
  | { readonly copyFrom: string };

export interface SyntheticVocab {
  /** the tokenizer.* metadata */
  readonly metadata: Readonly<Record<string, GgufValue>>;
  readonly vocabSize: number;
  /** unknown/control/unused token ids; a synthetic model gives them small output weights */
  readonly specialTokenIds: readonly number[];
}

/** llama.cpp token types (tokenizer.ggml.token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** Builds the vocab described by `spec`; generated vocabs have exactly `vocabSize` tokens. */
export function buildSyntheticVocab(spec: SyntheticVocabSpec, vocabSize: number, seed: number): SyntheticVocab {
  if (typeof spec === 'object' && 'copyFrom' in spec) return copyVocab(spec.copyFrom);
  if (spec === 'qwen2') return buildBpeVocab(vocabSize, 'qwen2', seed);
  const kind = typeof spec === 'string' ? spec : spec.kind;
  if (kind === 'spm') return buildSpmVocab(vocabSize, seed);
  const pre = typeof spec === 'object' && 'pre' in spec && spec.pre ? spec.pre : 'llama-bpe';
  return buildBpeVocab(vocabSize, pre, seed);
}

/** Copies every tokenizer.* key from a GGUF (e.g. a llama.cpp ggml-vocab-*.gguf). */
export function copyVocab(path: string): SyntheticVocab {
  const file = readGguf(path);
  const metadata: Record<string, GgufValue> = {};
  for (const [key, value] of file.metadata) if (key.startsWith('tokenizer.')) metadata[key] = value;
  const tokens = metadata['tokenizer.ggml.tokens'];
  if (tokens?.type !== GgufValueType.ARRAY) throw new ModelLoadError('MISSING_METADATA', `${path}: no tokenizer.ggml.tokens to copy`);
  const types = metadata['tokenizer.ggml.token_type'];
  const specialTokenIds: number[] = [];
  if (types?.type === GgufValueType.ARRAY) {
    types.value.forEach((t, id) => {
      const type = Number(t);
      if (type === TokenType.UNKNOWN || type === TokenType.CONTROL || type === TokenType.UNUSED) specialTokenIds.push(id);
    });
  }
  return { metadata, vocabSize: tokens.value.length, specialTokenIds };
}

// English letters, most frequent first, with relative frequencies (percent).
const LETTERS = 'etaoinshrdlcumwfgypbvkjxqz';
const LETTER_WEIGHTS = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07];
const COMMON_BIGRAMS = ['th', 'he', 'in', 'er', 'an', 're', 'on', 'at', 'en', 'nd', 'ti', 'es', 'or', 'te', 'of', 'ed', 'is', 'it', 'al', 'ar', 'st', 'to', 'nt', 'ng', 'se', 'ha', 'as', 'ou', 'io', 'le', 've', 'co', 'me', 'de', 'hi', 'ri', 'ro', 'ic', 'ne', 'ea', 'ra', 'ce'];

/**
 * Adds `count` new pieces through `add(a, b)`, each the concatenation of an earlier piece `a` (a
 * word start or a word part, biased towards early, short ones) and a word part `b`: first the
 * space-marked letters and common bigrams, then random growth. `spaceMark` is the word-start
 * marker ('▁' for SentencePiece, 'Ġ' for byte-level BPE); single characters must already exist.
 */
function growPieces(rng: Rng, spaceMark: string, count: number, exists: (piece: string) => boolean, add: (a: string, b: string) => void): void {
  const letterPick = cumulative(LETTER_WEIGHTS);
  const continuations: string[] = [...LETTERS];
  const heads: string[] = [...LETTERS, ...LETTERS.split('').map((c) => spaceMark + c)];
  const upperHeads = LETTERS.toUpperCase().split('').map((c) => spaceMark + c);
  const tryAdd = (a: string, b: string): boolean => {
    const piece = a + b;
    if (exists(piece)) return false;
    add(a, b);
    (a.startsWith(spaceMark) ? heads : continuations).push(piece);
    if (!a.startsWith(spaceMark)) heads.push(piece);
    return true;
  };
  let added = 0;
  // Word starts and the most common bigrams first (the highest-priority merges of a real vocab).
  for (const c of LETTERS) if (added < count && tryAdd(spaceMark, c)) added++;
  for (const bigram of COMMON_BIGRAMS) if (added < count && tryAdd(bigram[0]!, bigram[1]!)) added++;
  for (const c of LETTERS.toUpperCase()) if (added < count && tryAdd(spaceMark, c)) added++;
  let maxLength = 8;
  let misses = 0;
  while (added < count) {
    const useUpper = rng.next() < 0.04;
    const headPool = useUpper ? upperHeads : heads;
    const a = headPool[Math.floor(headPool.length * rng.next() ** 2.5)]!;
    const b = rng.next() < 0.5
      ? LETTERS[pick(letterPick, rng.next())]!
      : continuations[Math.floor(continuations.length * rng.next() ** 2.5)]!;
    if (a.length + b.length <= maxLength && tryAdd(a, b)) {
      if (useUpper) upperHeads.push(a + b);
      added++;
      misses = 0;
    } else if (++misses > 1000) {
      maxLength++; // the short pieces are used up
      misses = 0;
    }
  }
}

function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => (out[i] = sum += w));
  return out.map((c) => c / sum);
}

function pick(cdf: Float64Array, u: number): number {
  let i = 0;
  while (i < cdf.length - 1 && u > cdf[i]!) i++;
  return i;
}

function spmByteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Llama 2 style SentencePiece vocab: scores fall by one per piece, as in the real Llama 2 file. */
export function buildSpmVocab(vocabSize: number, seed: number): SyntheticVocab {
  const numFixed = 3 + 256;
  if (vocabSize < numFixed + 1) throw new InvalidRequestError('INVALID_ARGUMENT', `spm vocab needs more than ${numFixed} tokens (got ${vocabSize})`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(spmByteToken(b));
    types.push(TokenType.BYTE);
  }
  const seen = new Set(tokens);
  const addPiece = (piece: string): void => {
    seen.add(piece);
    tokens.push(piece);
    types.push(TokenType.NORMAL);
  };
  // single characters: the space mark, letters, then the rest of printable ASCII
  const singles = ['▁', ...LETTERS, ...LETTERS.toUpperCase()];
  for (let c = 33; c < 127; c++) if (!/[a-zA-Z]/.test(String.fromCharCode(c))) singles.push(String.fromCharCode(c));
  for (const c of singles) if (tokens.length < vocabSize) addPiece(c);
  growPieces(new Rng(seed ^ 0x5eed5b), '▁', vocabSize - tokens.length, (p) => seen.has(p), (a, b) => addPiece(a + b));
  tokens.length = vocabSize;
  types.length = vocabSize;
  const scores = tokens.map((_, i) => (i < numFixed ? 0 : numFixed - i));
  return {
    vocabSize,
    specialTokenIds: [0, 1, 2],
    metadata: {
      'tokenizer.ggml.model': gguf.str('llama'),
      'tokenizer.ggml.pre': gguf.str('default'),
      'tokenizer.ggml.tokens': gguf.arr(GgufValueType.STRING, tokens),
      'tokenizer.ggml.scores': gguf.arr(GgufValueType.FLOAT32, scores),
      'tokenizer.ggml.token_type': gguf.arr(GgufValueType.INT32, types),
      'tokenizer.ggml.bos_token_id': gguf.u32(1),
      'tokenizer.ggml.eos_token_id': gguf.u32(2),
      'tokenizer.ggml.unknown_token_id': gguf.u32(0),
      'tokenizer.ggml.add_bos_token': gguf.bool(true),
      'tokenizer.ggml.add_eos_token': gguf.bool(false),
    },
  };
}

/** GPT-2 bytes_to_unicode: byte → the printable character that stands for it in byte-level BPE. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const out = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCodePoint(printable ? b : next++);
  }
  return out;
})();

/** Byte tokens in Llama 3's order: the printable bytes first, then the remapped ones. */
function byteTokenOrder(): string[] {
  const printable: string[] = [];
  const remapped: string[] = [];
  for (let b = 0; b < 256; b++) (BYTE_TO_UNICODE[b]!.codePointAt(0)! < 256 ? printable : remapped).push(BYTE_TO_UNICODE[b]!);
  return [...printable, ...remapped];
}

/** Llama 3's first special tokens (ids 128000..128010 in the real vocab); reserved ones follow. */
const LLAMA3_SPECIALS = [
  '<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>', '<|reserved_special_token_1|>',
  '<|finetune_right_pad_id|>', '<|reserved_special_token_2|>', '<|start_header_id|>', '<|end_header_id|>',
  '<|eom_id|>', '<|eot_id|>', '<|python_tag|>',
];

const LLAMA3_CHAT_TEMPLATE =
  "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

/** Qwen2's first special tokens (ids 151643.. in the real vocab); `<|extra_N|>` ones follow. */
const QWEN2_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** The special-token half of a byte-level BPE vocab: Llama 3's, or Qwen2's with pre 'qwen2'. */
function bpeSpecials(pre: BpePreTokenizer): { names: readonly string[]; extra: (i: number) => string; bos: string; eos: string; addBos: boolean; chatTemplate: string } {
  if (pre === 'qwen2') {
    return { names: QWEN2_SPECIALS, extra: (i) => `<|extra_${i - QWEN2_SPECIALS.length}|>`, bos: '<|endoftext|>', eos: '<|im_end|>', addBos: false, chatTemplate: CHATML_TEMPLATE };
  }
  return {
    names: LLAMA3_SPECIALS,
    extra: (i) => `<|reserved_special_token_${i - LLAMA3_SPECIALS.length + 3}|>`,
    bos: '<|begin_of_text|>',
    eos: '<|eot_id|>',
    addBos: true,
    chatTemplate: LLAMA3_CHAT_TEMPLATE,
  };
}

/**
 * Llama 3 style byte-level BPE vocab: 256 byte tokens, merged tokens, then special tokens at the
 * end (256 of them, as in Llama 3, when vocabSize ≥ 128256; otherwise 16). BOS is
 * <|begin_of_text|>, EOS <|eot_id|>; the chat template is Llama 3's. With pre 'qwen2' the specials
 * are Qwen2's: <|endoftext|> (BOS, not added), <|im_start|>, <|im_end|> (EOS), ChatML template.
 */
export function buildBpeVocab(vocabSize: number, pre: BpePreTokenizer, seed: number): SyntheticVocab {
  const numSpecial = vocabSize >= 128256 ? 256 : 16;
  const numRegular = vocabSize - numSpecial;
  if (numRegular < 256 + 64) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `bpe vocab needs at least ${256 + 64 + numSpecial} tokens (got ${vocabSize})`);
  }
  const tokens = byteTokenOrder();
  const seen = new Set(tokens);
  const merges: string[] = [];
  const addMerge = (a: string, b: string): void => {
    seen.add(a + b);
    tokens.push(a + b);
    merges.push(`${a} ${b}`);
  };
  const space = BYTE_TO_UNICODE[32]!; // 'Ġ'
  const newline = BYTE_TO_UNICODE[10]!; // 'Ċ'
  addMerge(space, space);
  addMerge(newline, newline);
  if (numRegular >= 4096) {
    // Llama 3 splits numbers into groups of up to three digits
    for (let d = 10; d < 100; d++) addMerge(String(d)[0]!, String(d)[1]!);
  }
  growPieces(new Rng(seed ^ 0xb9e), space, numRegular - tokens.length, (p) => seen.has(p), addMerge);
  const types: number[] = tokens.map(() => TokenType.NORMAL);
  const specialTokenIds: number[] = [];
  const specials = bpeSpecials(pre);
  for (let i = 0; i < numSpecial; i++) {
    specialTokenIds.push(tokens.length);
    tokens.push(specials.names[i] ?? specials.extra(i));
    types.push(TokenType.CONTROL);
  }
  const idOf = (text: string): number => tokens.indexOf(text, numRegular);
  return {
    vocabSize,
    specialTokenIds,
    metadata: {
      'tokenizer.ggml.model': gguf.str('gpt2'),
      'tokenizer.ggml.pre': gguf.str(pre),
      'tokenizer.ggml.tokens': gguf.arr(GgufValueType.STRING, tokens),
      'tokenizer.ggml.token_type': gguf.arr(GgufValueType.INT32, types),
      'tokenizer.ggml.merges': gguf.arr(GgufValueType.STRING, merges),
      'tokenizer.ggml.bos_token_id': gguf.u32(idOf(specials.bos)),
      'tokenizer.ggml.eos_token_id': gguf.u32(idOf(specials.eos)),
      'tokenizer.ggml.add_bos_token': gguf.bool(specials.addBos),
      'tokenizer.ggml.add_eos_token': gguf.bool(false),
      'tokenizer.chat_template': gguf.str(specials.chatTemplate),
    },
  };
}
