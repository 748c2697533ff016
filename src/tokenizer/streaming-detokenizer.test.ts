import { describe, expect, it } from 'vitest';
import { gguf, GgufValueType, MetadataReader } from '../formats/gguf/index.js';
import { StreamingDetokenizer } from './streaming-detokenizer.js';
import { createTokenizer } from './tokenizer.js';

/** 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, 259 ▁, 260 ▁hi, 261 <|ctrl|> */
const tok = createTokenizer(
  new MetadataReader(
    new Map([
      ['tokenizer.ggml.model', gguf.str('llama')],
      [
        'tokenizer.ggml.tokens',
        gguf.arr(GgufValueType.STRING, [
          '<unk>', '<s>', '</s>',
          ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`),
          '▁', '▁hi', '<|ctrl|>',
        ]),
      ],
      ['tokenizer.ggml.scores', gguf.arr(GgufValueType.FLOAT32, [...new Array<number>(259).fill(0), -1, -2, 0])],
      ['tokenizer.ggml.token_type', gguf.arr(GgufValueType.INT32, [2, 3, 3, ...new Array<number>(256).fill(6), 1, 1, 3])],
    ]),
    'stream-test.gguf',
  ),
);
const byteIds = (s: string): number[] => Array.from(new TextEncoder().encode(s), (b) => 3 + b);

describe('StreamingDetokenizer', () => {
  it('holds back a character until all of its bytes have arrived', () => {
    const detok = new StreamingDetokenizer(tok);
    expect(byteIds('🦙').map((id) => detok.push(id))).toEqual(['', '', '', '🦙']);
    expect(byteIds('日本').map((id) => detok.push(id))).toEqual(['', '', '日', '', '', '本']);
    expect(detok.push(260)).toBe(' hi');
    expect(detok.flush()).toBe('');
  });

  it('emits complete characters at once and never a replacement for a split one', () => {
    const detok = new StreamingDetokenizer(tok);
    const ids = byteIds('a€b😶‍🌫️c');
    const chunks = ids.map((id) => detok.push(id));
    for (const chunk of chunks) expect(chunk).not.toContain('\uFFFD');
    expect(chunks.join('') + detok.flush()).toBe('a€b😶‍🌫️c');
  });

  it('flushes an incomplete character as U+FFFD and starts over', () => {
    const detok = new StreamingDetokenizer(tok, { stripLeadingSpace: true });
    expect(detok.push(3 + 0xf0)).toBe('');
    expect(detok.push(3 + 0x9f)).toBe('');
    expect(detok.flush()).toBe('\uFFFD');
    expect(detok.push(260)).toBe('hi'); // a new stream: its first token loses its space again
  });

  it('decodes invalid bytes to U+FFFD without holding them back', () => {
    const detok = new StreamingDetokenizer(tok);
    expect(detok.push(3 + 0x80)).toBe('\uFFFD');
    expect(detok.push(3 + 0x41)).toBe('A');
  });

  it('drops the first leading space only when asked', () => {
    const plain = new StreamingDetokenizer(tok);
    expect([plain.push(260), plain.push(260)]).toEqual([' hi', ' hi']);
    const stripped = new StreamingDetokenizer(tok, { stripLeadingSpace: true });
    expect([stripped.push(260), stripped.push(260)]).toEqual(['hi', ' hi']);
    // as in llama_detokenize, a leading BOS takes the strip with it
    const afterBos = new StreamingDetokenizer(tok, { stripLeadingSpace: true });
    expect([afterBos.push(1), afterBos.push(260)]).toEqual(['', ' hi']);
    expect(tok.decode([1, 260])).toBe(' hi');
  });

  it('renders control tokens only with special', () => {
    expect(new StreamingDetokenizer(tok).push(261)).toBe('');
    expect(new StreamingDetokenizer(tok, { special: true }).push(261)).toBe('<|ctrl|>');
  });

  it('rejects invalid ids', () => {
    expect(() => new StreamingDetokenizer(tok).push(tok.vocabSize)).toThrow(/out of range/);
  });
});
