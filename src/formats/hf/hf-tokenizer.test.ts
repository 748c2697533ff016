import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../errors/engine-error.js';
import { ChatTemplate } from '../../chat/chat-template.js';
import { createTokenizer, type Tokenizer } from '../../tokenizer/tokenizer.js';
import { GgufValueType, MetadataReader, readGguf, type GgufValue } from '../gguf/index.js';
import { readJsonFile } from './hf-directory.js';
import { hfTokenizerMetadata } from './hf-tokenizer.js';

/**
 * tokenizer.json (the real files of the @lenml/tokenizer-* dev dependencies) against llama.cpp's
 * expected ids for the same vocabularies (../shared/models/vocab X.gguf.inp / .out, the format of
 * src/tokenizer/llama-cpp-vocab.test.ts): Llama 3 ↔ llama-bpe, Qwen3 ↔ qwen2 (same merges and
 * pre-tokenizer; Qwen3 adds special tokens), Gemma 3 ↔ gemma-4 (same merges; Gemma 4 renames
 * unused tokens).
 */
const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const VOCAB_DIR = join(ROOT, '..', 'shared', 'models', 'vocab');
const SEPARATOR = '\n__ggml_vocab_test__\n';

const PAIRS = [
  { pkg: 'llama3', vocab: 'llama-bpe' },
  { pkg: 'qwen3', vocab: 'qwen2' },
  { pkg: 'gemma3', vocab: 'gemma-4' },
] as const;

const packageDir = (pkg: string): string => join(ROOT, 'node_modules', '@lenml', `tokenizer-${pkg}`, 'models');
const available = (pkg: string, vocab: string): boolean =>
  existsSync(join(packageDir(pkg), 'tokenizer.json')) && existsSync(join(VOCAB_DIR, `ggml-vocab-${vocab}.gguf.out`));

const metadataCache = new Map<string, Map<string, GgufValue>>();
function metadataOf(pkg: string): Map<string, GgufValue> {
  const dir = packageDir(pkg);
  const cached = metadataCache.get(pkg);
  if (cached) return cached;
  const metadata = hfTokenizerMetadata({
    tokenizer: readJsonFile(join(dir, 'tokenizer.json')),
    tokenizerConfig: readJsonFile(join(dir, 'tokenizer_config.json')),
    shownPath: dir,
  });
  metadataCache.set(pkg, metadata);
  return metadata;
}

const tokenizers = new Map<string, Tokenizer>();
function load(pkg: string): Tokenizer {
  let tok = tokenizers.get(pkg);
  if (!tok) tokenizers.set(pkg, (tok = createTokenizer(new MetadataReader(metadataOf(pkg), pkg))));
  return tok;
}

function readCases(vocab: string): { text: string; ids: number[] }[] {
  const base = join(VOCAB_DIR, `ggml-vocab-${vocab}.gguf`);
  const texts = readFileSync(`${base}.inp`, 'utf8').split(SEPARATOR);
  if (texts.at(-1) === '') texts.pop(); // test-tokenizer-0 reads no string after a final separator
  const lines = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  expect(lines.length).toBe(texts.length);
  return texts.map((text, i) => ({ text, ids: lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number) }));
}

describe('tokenizer.json → the tokenizer llama.cpp builds from the converted GGUF', () => {
  for (const { pkg, vocab } of PAIRS) {
    describe.skipIf(!available(pkg, vocab))(`${pkg} (llama.cpp's ${vocab} ids)`, () => {
      it('encodes every test string to llama.cpp ids exactly', () => {
        const tok = load(pkg);
        const cases = readCases(vocab);
        expect(cases.length).toBeGreaterThan(30);
        for (const { text, ids } of cases) expect(tok.encode(text, { addSpecial: false }), JSON.stringify(text)).toEqual(ids);
      });

      it('gives the same ids as the GGUF vocabulary where there is one, and decodes them back', () => {
        const path = join(VOCAB_DIR, `ggml-vocab-${vocab}.gguf`);
        if (!existsSync(path)) return;
        const fromGguf = createTokenizer(new MetadataReader(readGguf(path).metadata, path));
        const tok = load(pkg);
        for (const { text } of readCases(vocab)) {
          const ids = tok.encode(text, { addSpecial: false });
          expect(ids, JSON.stringify(text)).toEqual(fromGguf.encode(text, { addSpecial: false }));
          expect(tok.decode(ids)).toBe(fromGguf.decode(ids));
        }
      });
    });
  }

  it.skipIf(!available('llama3', 'llama-bpe'))('Llama 3: BOS added (llama-bpe), <|begin_of_text|> / <|end_of_text|>, <|eot_id|> ends generation, the chat template renders', () => {
    const tok = load('llama3');
    expect(tok.preTokenizer).toBe('llama-bpe');
    expect(tok.encode('Hello')).toEqual([128000, 9906]);
    expect(tok.tokenText(tok.bosId!)).toBe('<|begin_of_text|>');
    expect(tok.tokenText(tok.eosId!)).toBe('<|end_of_text|>');
    expect(tok.isEndOfGeneration(tok.tokenId('<|eot_id|>')!)).toBe(true);
    expect(tok.isControl(tok.tokenId('<|start_header_id|>')!)).toBe(true);
    const template = metadataOf('llama3').get('tokenizer.chat_template');
    expect(template?.type).toBe(GgufValueType.STRING);
    const rendered = ChatTemplate.fromSource(template!.value as string, tok).render([{ role: 'user', content: 'Hi' }], true);
    expect(rendered).toContain('<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  });

  it.skipIf(!available('qwen3', 'qwen2'))('Qwen3: no BOS, <|im_end|> is EOS (tokenizer_config.json), <think> is a user-defined token, the ChatML template renders', () => {
    const tok = load('qwen3');
    expect(tok.preTokenizer).toBe('qwen2');
    expect(tok.addBos).toBe(false);
    expect(tok.tokenText(tok.eosId!)).toBe('<|im_end|>');
    expect(tok.encode('a<think>b', { addSpecial: false })).toEqual([64, tok.tokenId('<think>'), 65]);
    const template = metadataOf('qwen3').get('tokenizer.chat_template')!.value as string;
    const rendered = ChatTemplate.fromSource(template, tok).render([{ role: 'user', content: 'Hi' }], true);
    expect(rendered).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it.skipIf(!available('gemma3', 'gemma-4'))('Gemma 3: ▁-escaped BPE with byte fallback, BOS <bos>, <end_of_turn> ends generation', () => {
    const tok = load('gemma3');
    expect(tok.model).toBe('gemma4');
    expect(tok.tokenText(tok.bosId!)).toBe('<bos>');
    expect(tok.encode('Hello world')[0]).toBe(tok.bosId);
    expect(tok.isEndOfGeneration(tok.tokenId('<end_of_turn>')!)).toBe(true);
    expect(tok.decode(tok.encode('naïve 日本 \u{1F600}', { addSpecial: false }))).toBe('naïve 日本 \u{1F600}');
  });

  it('refuses tokenizer.json kinds it cannot reproduce, naming them', () => {
    const base = { model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [] };
    const refuse = (tokenizer: unknown): void => {
      expect(() => hfTokenizerMetadata({ tokenizer, shownPath: 'x' })).toThrow(ModelLoadError);
    };
    refuse({ ...base, model: { type: 'WordPiece', vocab: {} } });
    refuse({ ...base, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\s+' } }, { type: 'ByteLevel', use_regex: false }] } });
    refuse({ ...base, model: { ...base.model, byte_fallback: true }, normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'NFKC' }] } });
    expect(() => hfTokenizerMetadata({ tokenizer: { model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }, shownPath: 'x' })).toThrow(/id -1/);
  });

  /**
   * Llama 2's tokenizer.json as transformers' LlamaConverter writes it from tokenizer.model: the
   * pieces as the vocab, <unk> <s> </s> as special added tokens, byte fallback, the prefix-space
   * normalizer, and every split of a piece into two pieces as a merge, in the order of the piece's
   * SentencePiece score (highest first).
   */
  function llama2TokenizerJson(path: string): unknown {
    const md = new MetadataReader(readGguf(path).metadata, path);
    const tokens = md.stringArray('tokenizer.ggml.tokens');
    const scores = md.typedArray('tokenizer.ggml.scores', GgufValueType.FLOAT32, 'f32 scores')!;
    const types = md.typedArray('tokenizer.ggml.token_type', GgufValueType.INT32, 'i32 types')!;
    const vocab = Object.fromEntries(tokens.map((t, id) => [t, id]));
    const merges: { merge: [string, string]; score: number; id: number }[] = [];
    tokens.forEach((piece, id) => {
      if (types[id] !== 1) return;
      const chars = [...piece];
      for (let i = 1; i < chars.length; i++) {
        const left = chars.slice(0, i).join('');
        const right = chars.slice(i).join('');
        if (left in vocab && right in vocab) merges.push({ merge: [left, right], score: scores[id]!, id });
      }
    });
    merges.sort((a, b) => b.score - a.score || a.id - b.id);
    return {
      model: { type: 'BPE', vocab, merges: merges.map((m) => m.merge), byte_fallback: true, fuse_unk: true, unk_token: '<unk>' },
      added_tokens: [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true })),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      pre_tokenizer: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    };
  }

  it.skipIf(!existsSync(join(VOCAB_DIR, 'ggml-vocab-llama-spm.gguf.out')))("Llama 2's SentencePiece BPE tokenizer.json (prefix space, byte fallback): llama.cpp's llama-spm ids exactly, as the GGUF vocabulary", () => {
    const path = join(VOCAB_DIR, 'ggml-vocab-llama-spm.gguf');
    const metadata = hfTokenizerMetadata({ tokenizer: llama2TokenizerJson(path), tokenizerConfig: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true }, shownPath: 'llama2' });
    expect(metadata.get('tokenizer.ggml.model')?.value).toBe('llama');
    const tok = createTokenizer(new MetadataReader(metadata, 'llama2'));
    const fromGguf = createTokenizer(new MetadataReader(readGguf(path).metadata, path));
    const cases = readCases('llama-spm');
    expect(cases.length).toBeGreaterThan(30);
    for (const { text, ids } of cases) {
      expect(tok.encode(text, { addSpecial: false }), JSON.stringify(text)).toEqual(ids);
      expect(tok.decode(ids)).toBe(fromGguf.decode(ids));
    }
    expect(tok.encode('Hello')).toEqual(fromGguf.encode('Hello'));
    expect(tok.tokenText(tok.bosId!)).toBe('<s>');
    expect(tok.tokenText(tok.eosId!)).toBe('</s>');
  });
});
