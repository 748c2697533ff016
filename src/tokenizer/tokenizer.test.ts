import { describe, expect, it } from 'vitest';
import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { gguf, GgufValueType, MetadataReader, type GgufValue } from '../formats/gguf/index.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

// Small hand-made vocabularies, so these tests run without ../shared.

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6 } as const;

function metadata(entries: Record<string, GgufValue>): MetadataReader {
  return new MetadataReader(new Map(Object.entries(entries)), 'test.gguf');
}

/** 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below. */
const SPM_PIECES: readonly [string, number, number][] = [
  ['▁', -1, TYPE.NORMAL], // 259
  ['a', -2, TYPE.NORMAL], // 260
  ['b', -3, TYPE.NORMAL], // 261
  ['c', -4, TYPE.NORMAL], // 262
  ['▁a', -5, TYPE.NORMAL], // 263
  ['ab', -1, TYPE.NORMAL], // 264
  ['▁ab', -2, TYPE.NORMAL], // 265
  ['bc', -0.5, TYPE.NORMAL], // 266
  ['<|ctrl|>', 0, TYPE.CONTROL], // 267
  ['<|user|>', 0, TYPE.USER_DEFINED], // 268
  ['<|im_end|>', 0, TYPE.NORMAL], // 269: llama.cpp makes it an end-of-generation control token by its text
];
const BYTE = (b: number): number => 3 + b;

function spmTokenizer(extra: Record<string, GgufValue> = {}): Tokenizer {
  const tokens = ['<unk>', '<s>', '</s>'];
  const scores = [0, 0, 0];
  const types: number[] = [TYPE.UNKNOWN, TYPE.CONTROL, TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    scores.push(0);
    types.push(TYPE.BYTE);
  }
  for (const [text, score, type] of SPM_PIECES) {
    tokens.push(text);
    scores.push(score);
    types.push(type);
  }
  return createTokenizer(
    metadata({
      'tokenizer.ggml.model': gguf.str('llama'),
      'tokenizer.ggml.tokens': gguf.arr(GgufValueType.STRING, tokens),
      'tokenizer.ggml.scores': gguf.arr(GgufValueType.FLOAT32, scores),
      'tokenizer.ggml.token_type': gguf.arr(GgufValueType.INT32, types),
      'tokenizer.ggml.bos_token_id': gguf.u32(1),
      'tokenizer.ggml.eos_token_id': gguf.u32(2),
      ...extra,
    }),
  );
}

/** GPT-2's byte → character table */
function byteLevelChar(b: number): string {
  const printable = (x: number) => (x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff);
  if (printable(b)) return String.fromCharCode(b);
  let n = 0;
  for (let x = 0; x < b; x++) if (!printable(x)) n++;
  return String.fromCharCode(256 + n);
}

/** ids 0..255: the byte-level alphabet in byte order; 256 Ġt, 257 he, 258 Ġthe, 259 <|endoftext|> */
function bpeTokenizer(pre = 'gpt-2'): Tokenizer {
  const tokens = Array.from({ length: 256 }, (_, b) => byteLevelChar(b));
  tokens.push('Ġt', 'he', 'Ġthe', '<|endoftext|>');
  const types = tokens.map((_, i) => (i === 259 ? TYPE.CONTROL : TYPE.NORMAL));
  return createTokenizer(
    metadata({
      'tokenizer.ggml.model': gguf.str('gpt2'),
      'tokenizer.ggml.pre': gguf.str(pre),
      'tokenizer.ggml.tokens': gguf.arr(GgufValueType.STRING, tokens),
      'tokenizer.ggml.token_type': gguf.arr(GgufValueType.INT32, types),
      'tokenizer.ggml.merges': gguf.arr(GgufValueType.STRING, ['Ġ t', 'h e', 'Ġt he']),
      'tokenizer.ggml.eos_token_id': gguf.u32(259),
    }),
  );
}

function expectError(fn: () => unknown, type: typeof ModelLoadError | typeof InvalidRequestError, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as ModelLoadError).code).toBe(code);
  if (message) expect((caught as Error).message).toMatch(message);
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('SentencePiece tokenizer', () => {
  const tok = spmTokenizer();

  it('reads the vocabulary and its flags', () => {
    expect(tok.model).toBe('llama');
    expect(tok.vocabSize).toBe(259 + SPM_PIECES.length);
    expect([tok.bosId, tok.eosId, tok.addBos, tok.addEos, tok.addSpacePrefix]).toEqual([1, 2, true, false, true]);
    expect(tok.tokenText(265)).toBe('▁ab');
    expect(tok.tokenId('▁ab')).toBe(265);
    expect(tok.tokenId('nope')).toBeUndefined();
  });

  it('merges the highest-scoring pair first, with a space prefix', () => {
    expect(tok.encode('ab', { addSpecial: false })).toEqual([265]);
    // "bc" (-0.5) beats "ab" (-1), which leaves "▁a" + "bc"
    expect(tok.encode('abc', { addSpecial: false })).toEqual([263, 266]);
    expect(tok.encode('ab ab', { addSpecial: false })).toEqual([265, 265]);
    expect(tok.encode('', { addSpecial: false })).toEqual([]);
  });

  it('adds BOS by default', () => {
    expect(tok.encode('ab')).toEqual([1, 265]);
    expect(tok.encode('')).toEqual([1]);
    expect(spmTokenizer({ 'tokenizer.ggml.add_eos_token': gguf.bool(true) }).encode('ab')).toEqual([1, 265, 2]);
  });

  it('falls back to byte tokens for characters outside the vocabulary', () => {
    expect(tok.encode('€', { addSpecial: false })).toEqual([259, BYTE(0xe2), BYTE(0x82), BYTE(0xac)]);
    expect(tok.encode('a\n', { addSpecial: false })).toEqual([263, BYTE(0x0a)]);
  });

  it('honours add_space_prefix = false', () => {
    const noPrefix = spmTokenizer({ 'tokenizer.ggml.add_space_prefix': gguf.bool(false) });
    expect(noPrefix.encode('ab', { addSpecial: false })).toEqual([264]);
    expect(noPrefix.decode([265])).toBe(' ab');
  });

  it('splits out control tokens only with parseSpecial, user-defined tokens always', () => {
    expect(tok.encode('ab<|ctrl|>ab', { addSpecial: false, parseSpecial: true })).toEqual([265, 267, 265]);
    expect(tok.encode('ab<|ctrl|>ab', { addSpecial: false })).not.toContain(267);
    expect(tok.encode('ab<|user|>ab', { addSpecial: false })).toEqual([265, 268, 265]);
    expect(tok.encode('<s>ab', { addSpecial: false, parseSpecial: true })).toEqual([1, 265]);
  });

  it('knows the most bytes of text one token stands for, a lower bound on any text\'s token count', () => {
    expect(tok.maxTokenBytes).toBe(10); // '<|im_end|>', the longest entry
    for (const text of ['ab ab abc', '<|im_end|><|im_end|>', 'zzzz ü 🐦']) {
      expect(tok.encode(text, { addSpecial: false, parseSpecial: true }).length).toBeGreaterThanOrEqual(Buffer.byteLength(text) / tok.maxTokenBytes);
    }
  });

  it('gives each token its bytes', () => {
    expect(tok.tokenBytes(BYTE(0x0a))).toEqual(Uint8Array.of(0x0a));
    expect(tok.tokenBytes(263)).toEqual(utf8(' a'));
    expect(tok.tokenBytes(1)).toEqual(new Uint8Array(0));
    expect(tok.tokenBytes(1, true)).toEqual(utf8('<s>'));
    expect(tok.tokenBytes(268)).toEqual(utf8('<|user|>'));
    expect(tok.tokenBytes(0)).toEqual(new Uint8Array(0));
    expect(tok.tokenBytes(0, true)).toEqual(utf8('<unk>'));
  });

  it('decodes like llama_detokenize: the first token loses its leading space', () => {
    expect(tok.decode([265, 265])).toBe('ab ab');
    expect(tok.decode([259, BYTE(0xe2), BYTE(0x82), BYTE(0xac)])).toBe('€');
    // a leading BOS takes the space removal with it (llama.cpp, remove_special = false)
    expect(tok.decode([1, 265])).toBe(' ab');
    expect(tok.decode([1, 265, 2], { special: true })).toBe('<s> ab</s>');
    expect(tok.decode([])).toBe('');
    for (const text of ['ab', 'abc ab', '€ a\n', '  ab  ']) expect(tok.decode(tok.encode(text, { addSpecial: false }))).toBe(text);
  });

  it('knows the end-of-generation tokens, including ones found by their text', () => {
    expect(tok.isEndOfGeneration(2)).toBe(true);
    expect(tok.isEndOfGeneration(269)).toBe(true);
    expect(tok.isControl(269)).toBe(true);
    expect(tok.eotId).toBe(269);
    expect(tok.isEndOfGeneration(1)).toBe(false);
    expect(tok.isEndOfGeneration(265)).toBe(false);
  });

  it('rejects invalid token ids', () => {
    for (const id of [-1, 1.5, tok.vocabSize, Number.NaN]) {
      expectError(() => tok.decode([265, id]), InvalidRequestError, 'INVALID_TOKEN');
      expectError(() => tok.tokenBytes(id), InvalidRequestError, 'INVALID_TOKEN');
      expectError(() => tok.tokenText(id), InvalidRequestError, 'INVALID_TOKEN');
    }
  });

  it('replaces lone surrogates as UTF-8 encoding would', () => {
    expect(tok.encode('\uD800', { addSpecial: false })).toEqual(tok.encode('\uFFFD', { addSpecial: false }));
  });
});

describe('byte-level BPE tokenizer', () => {
  const tok = bpeTokenizer();
  const id = (ch: string): number => ch.charCodeAt(0);

  it('applies merges by rank within pre-tokenized words', () => {
    expect(tok.model).toBe('gpt2');
    expect(tok.preTokenizer).toBe('gpt-2');
    expect(tok.encode(' the')).toEqual([258]);
    expect(tok.encode('the the')).toEqual([id('t'), 257, 258]);
    expect(tok.encode(' t')).toEqual([256]);
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
  });

  it('does not add BOS unless the metadata says so', () => {
    expect(tok.addBos).toBe(false);
    expect(tok.encode('a')).toEqual([id('a')]);
  });

  it('decodes byte-level text and cleans spaces before punctuation like llama.cpp', () => {
    expect(tok.decode([258, 256])).toBe(' the t');
    expect(tok.decode(tok.encode('a , b . c'))).toBe('a, b. c');
    expect(tok.decode(tok.encode("it ' s"))).toBe("it's");
    expect(tok.decode([0xc3, 0xa9])).toBe('é');
    expect(tok.tokenText(0x20)).toBe('Ġ');
    expect(tok.tokenBytes(0x20)).toEqual(Uint8Array.of(0x20));
  });

  it('parses its control tokens on request', () => {
    expect(tok.encode('a<|endoftext|>', { parseSpecial: true })).toEqual([id('a'), 259]);
    expect(tok.encode('a<|endoftext|>')).not.toContain(259);
    expect(tok.isEndOfGeneration(259)).toBe(true);
    expect(tok.decode([id('a'), 259])).toBe('a');
    expect(tok.decode([id('a'), 259], { special: true })).toBe('a<|endoftext|>');
  });

  it('keeps spaces where the pre-tokenizer does not clean them (qwen2)', () => {
    expect(bpeTokenizer('qwen2').decode(tok.encode('a , b'))).toBe('a , b');
  });
});

describe('createTokenizer errors', () => {
  const base = {
    'tokenizer.ggml.tokens': gguf.arr(GgufValueType.STRING, ['a', 'b']),
    'tokenizer.ggml.merges': gguf.arr(GgufValueType.STRING, ['a b']),
  };

  it('names an unsupported tokenizer model', () => {
    expectError(
      () => createTokenizer(metadata({ ...base, 'tokenizer.ggml.model': gguf.str('bert') })),
      ModelLoadError,
      'UNSUPPORTED_TOKENIZER',
      /'bert'/,
    );
  });

  it('names an unsupported pre-tokenizer', () => {
    expectError(
      () => createTokenizer(metadata({ ...base, 'tokenizer.ggml.model': gguf.str('gpt2'), 'tokenizer.ggml.pre': gguf.str('kimi-k2') })),
      ModelLoadError,
      'UNSUPPORTED_TOKENIZER',
      /'kimi-k2'/,
    );
  });

  it('refuses token scores and types llama.cpp would read as garbage: non-finite scores, types out of range, other item types', () => {
    const numTokens = 3 + 256 + SPM_PIECES.length;
    const scores = Array.from({ length: numTokens }, () => 0);
    const types = Array.from({ length: numTokens }, () => TYPE.NORMAL);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const withBad = scores.map((s, i) => (i === 260 ? bad : s));
      expectError(() => spmTokenizer({ 'tokenizer.ggml.scores': gguf.arr(GgufValueType.FLOAT32, withBad) }), ModelLoadError, 'GGUF_CORRUPT', /tokenizer\.ggml\.scores\[260\] is (NaN|Infinity); token scores must be finite/);
    }
    for (const bad of [-2, 7]) {
      const withBad = types.map((t, i) => (i === 261 ? bad : t));
      expectError(() => spmTokenizer({ 'tokenizer.ggml.token_type': gguf.arr(GgufValueType.INT32, withBad) }), ModelLoadError, 'GGUF_CORRUPT', new RegExp(`token_type\\[261\\] is ${bad}; token types are 0 to 6`));
    }
    expectError(() => spmTokenizer({ 'tokenizer.ggml.scores': gguf.arr(GgufValueType.UINT32, scores) }), ModelLoadError, 'MISSING_METADATA', /'tokenizer\.ggml\.scores' must be an array of float32/);
    expectError(() => spmTokenizer({ 'tokenizer.ggml.token_type': gguf.arr(GgufValueType.FLOAT32, types) }), ModelLoadError, 'MISSING_METADATA', /'tokenizer\.ggml\.token_type' must be an array of int32/);
  });

  it('reports missing metadata', () => {
    expectError(() => createTokenizer(metadata({})), ModelLoadError, 'MISSING_METADATA', /tokenizer\.ggml\.model/);
    expectError(
      () => createTokenizer(metadata({ 'tokenizer.ggml.model': gguf.str('llama') })),
      ModelLoadError,
      'MISSING_METADATA',
      /tokenizer\.ggml\.tokens/,
    );
    expectError(
      () => createTokenizer(metadata({ 'tokenizer.ggml.model': gguf.str('gpt2'), 'tokenizer.ggml.tokens': base['tokenizer.ggml.tokens'] })),
      ModelLoadError,
      'MISSING_METADATA',
      /merges/,
    );
  });
});
