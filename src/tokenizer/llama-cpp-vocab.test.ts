import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MetadataReader, readGguf } from '../formats/gguf/index.js';
import { cleanUpSpaces } from './clean-up-spaces.js';
import { StreamingDetokenizer } from './streaming-detokenizer.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

/**
 * Conformance with llama.cpp on its own vocab-only GGUFs (../shared/models/vocab): X.gguf.inp
 * holds test strings, each followed by "\n__ggml_vocab_test__\n"; X.gguf.out holds the token ids
 * llama.cpp's tests/test-tokenizer-0 produced for each, one line per string, tokenized with
 * add_special = false and parse_special = false.
 */

const PROJECT_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const VOCAB_DIR = join(PROJECT_ROOT, '..', 'shared', 'models', 'vocab');
const HAS_VOCABS = existsSync(VOCAB_DIR);
if (!HAS_VOCABS) console.warn(`skipping llama.cpp vocab conformance tests: ${VOCAB_DIR} is absent`);

const VOCABS = [
  'llama-spm', 'llama-bpe', 'qwen2', 'qwen35', 'phi-3', 'gpt-2', 'mpt', 'starcoder', 'refact', 'falcon', 'deepseek-llm',
  'deepseek-coder', 'gemma-4',
] as const;
const SEPARATOR = '\n__ggml_vocab_test__\n';

const tokenizers = new Map<string, Tokenizer>();
function load(name: string): Tokenizer {
  let tok = tokenizers.get(name);
  if (!tok) {
    const path = join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
    tok = createTokenizer(new MetadataReader(readGguf(path).metadata, path));
    tokenizers.set(name, tok);
  }
  return tok;
}

/** test-tokenizer-0's reading of the .inp / .out pair */
function readCases(name: string): { text: string; ids: number[] }[] {
  const base = join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
  const raw = readFileSync(`${base}.inp`, 'utf8');
  const texts: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(SEPARATOR, pos);
    if (next < 0) {
      texts.push(raw.slice(pos));
      break;
    }
    texts.push(raw.slice(pos, next));
    pos = next + SEPARATOR.length;
  }
  const lines = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  expect(lines.length).toBe(texts.length);
  return texts.map((text, i) => {
    const line = lines[i]!.trim();
    return { text, ids: line === '' ? [] : line.split(/\s+/).map(Number) };
  });
}

const hasCases = (name: string): boolean =>
  ['', '.inp', '.out'].every((ext) => existsSync(join(VOCAB_DIR, `ggml-vocab-${name}.gguf${ext}`)));

describe.skipIf(!HAS_VOCABS)(`llama.cpp vocab conformance (${VOCAB_DIR})`, () => {
  describe.each(VOCABS.filter(hasCases))('%s', (name) => {
    it('encodes every test string to llama.cpp ids exactly', () => {
      const tok = load(name);
      for (const { text, ids } of readCases(name)) {
        expect(tok.encode(text, { addSpecial: false, parseSpecial: false }), JSON.stringify(text)).toEqual(ids);
      }
    });

    it('decodes back to the text (after llama.cpp clean-up of spaces where the vocab applies it)', () => {
      const tok = load(name);
      const cleans = tok.decode(tok.encode('a , b', { addSpecial: false })) === 'a, b';
      for (const { text, ids } of readCases(name)) {
        const expected = cleans ? new TextDecoder().decode(cleanUpSpaces(new TextEncoder().encode(text))) : text;
        expect(tok.decode(ids), JSON.stringify(text)).toBe(expected);
      }
    });

    it('streams the same text as its token pieces, one token at a time', () => {
      const tok = load(name);
      for (const { text, ids } of readCases(name)) {
        const detok = new StreamingDetokenizer(tok, { stripLeadingSpace: true });
        const chunks = ids.map((id) => detok.push(id));
        chunks.push(detok.flush());
        for (const chunk of chunks) expect(chunk).not.toContain('\uFFFD');
        const pieces = ids.map((id) => tok.tokenBytes(id));
        if (tok.addSpacePrefix && pieces[0]?.[0] === 0x20) pieces[0] = pieces[0].subarray(1);
        expect(chunks.join(''), JSON.stringify(text)).toBe(new TextDecoder().decode(Buffer.concat(pieces)));
      }
    });
  });

  it('reads the special tokens and flags llama.cpp uses', () => {
    const llama3 = load('llama-bpe');
    expect([llama3.model, llama3.preTokenizer, llama3.vocabSize]).toEqual(['gpt2', 'llama-bpe', 128256]);
    expect([llama3.bosId, llama3.eosId, llama3.eotId, llama3.addBos, llama3.addEos]).toEqual([128000, 128001, 128009, true, false]);
    const spm = load('llama-spm');
    expect([spm.model, spm.bosId, spm.eosId, spm.addBos, spm.addSpacePrefix]).toEqual(['llama', 1, 2, true, true]);
    const qwen = load('qwen2');
    expect([qwen.bosId, qwen.eosId, qwen.eotId, qwen.addBos]).toEqual([151643, 151643, 151645, false]);
  });

  it('knows the end-of-generation tokens', () => {
    const llama3 = load('llama-bpe');
    for (const text of ['<|end_of_text|>', '<|eot_id|>']) expect(llama3.isEndOfGeneration(llama3.tokenId(text)!)).toBe(true);
    for (const text of ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>']) {
      expect(llama3.isEndOfGeneration(llama3.tokenId(text)!)).toBe(false);
    }
    expect(llama3.isEndOfGeneration(9906)).toBe(false);
    const qwen = load('qwen2');
    for (const text of ['<|im_end|>', '<|endoftext|>']) expect(qwen.isEndOfGeneration(qwen.tokenId(text)!)).toBe(true);
    expect(qwen.isEndOfGeneration(qwen.tokenId('<|im_start|>')!)).toBe(false);
    const phi3 = load('phi-3');
    for (const text of ['<|end|>', '<|endoftext|>', '</s>']) expect(phi3.isEndOfGeneration(phi3.tokenId(text)!)).toBe(true);
    expect(phi3.isEndOfGeneration(phi3.tokenId('<|assistant|>')!)).toBe(false);
  });

  // expected ids from llama.cpp (llama_tokenize with add_special = false)
  it('parses special tokens only when asked', () => {
    const llama3 = load('llama-bpe');
    expect(llama3.encode('<|begin_of_text|>Hello<|eot_id|>', { addSpecial: false, parseSpecial: true })).toEqual([128000, 9906, 128009]);
    expect(llama3.encode('Hello world <|eot_id|> x', { addSpecial: false, parseSpecial: true })).toEqual([9906, 1917, 220, 128009, 865]);
    expect(llama3.encode('Hello world <|eot_id|> x', { addSpecial: false })).toEqual([9906, 1917, 83739, 68, 354, 851, 91, 29, 865]);
    expect(llama3.encode('Hello')).toEqual([128000, 9906]);

    const qwen = load('qwen2');
    expect(qwen.encode('<|im_start|>user\nHi<|im_end|>\n', { parseSpecial: true })).toEqual([151644, 872, 198, 13048, 151645, 198]);

    // phi-3 special tokens eat the whitespace after them (rstrip); SentencePiece re-adds a space prefix after each
    const phi3 = load('phi-3');
    expect(phi3.encode('<|user|>\nHello<|end|>\n<|assistant|>', { addSpecial: false, parseSpecial: true })).toEqual([32010, 15043, 32007, 32001]);
    expect(phi3.encode('Hi </s> there', { addSpecial: false, parseSpecial: true })).toEqual([6324, 29871, 2, 727]);

    const spm = load('llama-spm');
    expect(spm.encode('<s>Hello</s> world', { addSpecial: false, parseSpecial: true })).toEqual([1, 15043, 2, 29871, 3186]);
    expect(spm.encode('<s>Hello</s> world', { addSpecial: false })).toEqual([529, 29879, 29958, 10994, 829, 29879, 29958, 3186]);
  });

  it('decodes like llama_detokenize', () => {
    const llama3 = load('llama-bpe');
    expect(llama3.decode([128000, 9906, 128009])).toBe('Hello');
    expect(llama3.decode([128000, 9906, 128009], { special: true })).toBe('<|begin_of_text|>Hello<|eot_id|>');
    expect(llama3.decode([9906, 1917, 220, 128009, 865])).toBe('Hello world  x');
    const spm = load('llama-spm');
    expect(spm.decode([1, 15043, 2, 29871, 3186])).toBe(' Hello  world');
    expect(spm.decode([1, 15043, 2, 29871, 3186], { special: true })).toBe('<s> Hello</s>  world');
    expect(load('phi-3').decode([32010, 15043, 32007, 32001], { special: true })).toBe('<|user|> Hello<|end|><|assistant|>');
    expect(load('gpt-2').decode(load('gpt-2').encode("Hello , world ! It ' s"))).toBe("Hello, world! It's");
    expect(load('qwen2').decode(load('qwen2').encode('Hello , world !'))).toBe('Hello , world !');
  });

  it('gives pieces as llama.cpp token_to_piece does', () => {
    const spm = load('llama-spm');
    expect(spm.tokenBytes(spm.tokenId('<0x0A>')!)).toEqual(Uint8Array.of(0x0a));
    expect(new TextDecoder().decode(spm.tokenBytes(15043))).toBe(' Hello');
    expect(spm.tokenBytes(1)).toEqual(new Uint8Array(0));
    const llama3 = load('llama-bpe');
    expect(new TextDecoder().decode(llama3.tokenBytes(22691))).toBe(' Hello');
    expect(llama3.tokenBytes(9468)).toEqual(Uint8Array.of(0xf0, 0x9f)); // "ðŁ": the first half of an emoji
    expect(new TextDecoder().decode(llama3.tokenBytes(128009, true))).toBe('<|eot_id|>');
  });

  it('holds back characters split across tokens while streaming', () => {
    const llama3 = load('llama-bpe');
    const text = '🦙 日本語 ✅ 😶‍🌫️';
    const ids = llama3.encode(text, { addSpecial: false });
    expect(ids).toEqual([9468, 99, 247, 105180, 102158, 26602, 227, 27623, 114, 102470, 9468, 234, 104, 31643]);
    const detok = new StreamingDetokenizer(llama3);
    const chunks = ids.map((id) => detok.push(id));
    expect(chunks.slice(0, 3)).toEqual(['', '', '🦙']);
    expect(chunks.join('') + detok.flush()).toBe(text);
    for (const chunk of chunks) expect(chunk).not.toContain('\uFFFD');

    // SentencePiece byte-fallback tokens, and its leading space
    const spm = load('llama-spm');
    const spmIds = spm.encode('🦙', { addSpecial: false });
    expect(spmIds).toEqual([29871, 243, 162, 169, 156]);
    const plain = new StreamingDetokenizer(spm);
    expect(spmIds.map((id) => plain.push(id))).toEqual([' ', '', '', '', '🦙']);
    const stripped = new StreamingDetokenizer(spm, { stripLeadingSpace: true });
    expect(spmIds.map((id) => stripped.push(id)).join('')).toBe('🦙');
  });

  it('rejects token ids outside the vocabulary', () => {
    const llama3 = load('llama-bpe');
    expect(() => llama3.decode([128256])).toThrow(/out of range/);
    expect(() => llama3.tokenBytes(-1)).toThrow(/out of range/);
  });

  it('loads a 128k vocabulary in well under a second and encodes kilobytes in milliseconds', () => {
    const path = join(VOCAB_DIR, 'ggml-vocab-llama-bpe.gguf');
    const md = new MetadataReader(readGguf(path).metadata, path);
    const t0 = performance.now();
    const tok = createTokenizer(md);
    const loadMs = performance.now() - t0;

    const cases = readCases('llama-bpe').map((c) => c.text);
    tok.encode(cases.join(' ')); // warm up (JIT, codepoint tables)
    // ~6 KB of mixed scripts, emoji, whitespace runs and digits, mostly unseen words
    const text = Array.from({ length: 6 }, (_, i) => cases.map((c, j) => `${c} w${i}x${j}y ${i * 7919 + j}`).join('\n')).join('\n');
    const t1 = performance.now();
    const ids = tok.encode(text);
    const encodeMs = performance.now() - t1;
    console.log(`llama-bpe: createTokenizer ${loadMs.toFixed(0)} ms; encode ${text.length} chars → ${ids.length} tokens in ${encodeMs.toFixed(1)} ms`);
    // generous bounds: the machine running the suite may be busy
    expect(loadMs).toBeLessThan(1500);
    expect(encodeMs).toBeLessThan(250);
  });
});
