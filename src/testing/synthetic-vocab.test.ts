import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MetadataReader, readGguf, type GgufValue } from '../formats/gguf/index.js';
import { buildBpeVocab, buildSpmVocab, buildSyntheticVocab, BYTE_TO_UNICODE, TokenType } from './synthetic-vocab.js';

const LLAMA_BPE = fileURLToPath(new URL('../../../shared/models/vocab/ggml-vocab-llama-bpe.gguf', import.meta.url));

function reader(metadata: Readonly<Record<string, GgufValue>>): MetadataReader {
  return new MetadataReader(new Map(Object.entries(metadata)), 'test');
}

describe('synthetic vocabs', () => {
  it('spm: <unk> <s> </s>, 256 byte tokens, then unique pieces with falling scores', () => {
    const vocab = buildSpmVocab(1000, 0);
    const m = reader(vocab.metadata);
    const tokens = m.stringArray('tokenizer.ggml.tokens');
    const types = m.numberArray('tokenizer.ggml.token_type')!;
    const scores = m.numberArray('tokenizer.ggml.scores')!;
    expect(tokens).toHaveLength(1000);
    expect(new Set(tokens).size).toBe(1000);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect([tokens[3], tokens[3 + 0x0a], tokens[258]]).toEqual(['<0x00>', '<0x0A>', '<0xFF>']);
    expect(types.slice(0, 4)).toEqual([TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE]);
    expect(scores[259]! > scores[999]!).toBe(true);
    expect(tokens).toContain('▁t');
    expect(tokens.slice(259).every((t) => !t.slice(1).includes('▁'))).toBe(true); // '▁' only starts a piece
    expect(vocab.specialTokenIds).toEqual([0, 1, 2]);
  });

  it('bpe: every merged token is the concatenation of two earlier tokens', () => {
    const vocab = buildBpeVocab(2048, 'llama-bpe', 0);
    const m = reader(vocab.metadata);
    const tokens = m.stringArray('tokenizer.ggml.tokens');
    const merges = m.stringArray('tokenizer.ggml.merges');
    expect(tokens).toHaveLength(2048);
    expect(new Set(tokens).size).toBe(2048);
    expect(merges).toHaveLength(2048 - 256 - 16);
    const index = new Map(tokens.map((t, i) => [t, i]));
    merges.forEach((merge, rank) => {
      const [a, b] = merge.split(' ') as [string, string];
      const id = 256 + rank;
      expect(tokens[id]).toBe(a + b);
      expect(index.get(a)!).toBeLessThan(id);
      expect(index.get(b)!).toBeLessThan(id);
    });
    expect(tokens.slice(-16, -13)).toEqual(['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>']);
    expect(m.string('tokenizer.ggml.pre')).toBe('llama-bpe');
  });

  it('bpe at Llama 3 size puts the 256 specials at 128000.. with BOS 128000 and EOS <|eot_id|> 128009', () => {
    const vocab = buildSyntheticVocab('bpe', 128256, 0);
    const m = reader(vocab.metadata);
    const tokens = m.stringArray('tokenizer.ggml.tokens');
    expect(tokens).toHaveLength(128256);
    expect(m.number('tokenizer.ggml.bos_token_id')).toBe(128000);
    expect(m.number('tokenizer.ggml.eos_token_id')).toBe(128009);
    expect(tokens[128255]).toBe('<|reserved_special_token_247|>');
    expect(vocab.specialTokenIds).toHaveLength(256);
  });

  it('bpe byte tokens use the GPT-2 byte map in Llama 3 order', { skip: !existsSync(LLAMA_BPE) }, () => {
    const real = new MetadataReader(readGguf(LLAMA_BPE).metadata, LLAMA_BPE).stringArray('tokenizer.ggml.tokens');
    const tokens = reader(buildBpeVocab(1024, 'gpt-2', 0).metadata).stringArray('tokenizer.ggml.tokens');
    expect(tokens.slice(0, 256)).toEqual(real.slice(0, 256));
    expect([BYTE_TO_UNICODE[32], BYTE_TO_UNICODE[10]]).toEqual(['Ġ', 'Ċ']);
  });

  it('qwen2: byte-level BPE with the qwen2 pre-tokenizer and Qwen specials, BOS not added', () => {
    const v = buildSyntheticVocab('qwen2', 1024, 3);
    const tokens = v.metadata['tokenizer.ggml.tokens']!.value as string[];
    expect(v.metadata['tokenizer.ggml.pre']!.value).toBe('qwen2');
    expect(v.metadata['tokenizer.ggml.add_bos_token']!.value).toBe(false);
    expect(tokens.slice(1008, 1011)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
    expect(tokens[1023]).toBe('<|extra_12|>');
    expect(v.metadata['tokenizer.ggml.eos_token_id']!.value).toBe(1010);
    expect(v.specialTokenIds).toHaveLength(16);
  });

  it('depends only on the seed', () => {
    const a = buildSyntheticVocab('spm', 600, 1).metadata['tokenizer.ggml.tokens'];
    expect(buildSyntheticVocab('spm', 600, 1).metadata['tokenizer.ggml.tokens']).toEqual(a);
    expect(buildSyntheticVocab('spm', 600, 2).metadata['tokenizer.ggml.tokens']).not.toEqual(a);
  });

  it('rejects vocab sizes too small for the fixed tokens', () => {
    expect(() => buildSpmVocab(200, 0)).toThrow(/more than 259 tokens/);
    expect(() => buildBpeVocab(300, 'llama-bpe', 0)).toThrow(/at least 336 tokens/);
  });
});
