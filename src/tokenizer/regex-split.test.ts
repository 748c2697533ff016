import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { resolvePreTokenizer } from './pre-tokenizer.js';
import { RegexSplitter } from './regex-split.js';

const split = (pre: string, text: string): string[] => new RegexSplitter(resolvePreTokenizer(pre)!.expressions).split(text);

describe('RegexSplitter', () => {
  it('splits like the GPT-2 regex', () => {
    expect(split('gpt-2', "Hello world's  end\n\n 123 !!")).toEqual(['Hello', ' world', "'s", ' ', ' end', '\n\n', ' 123', ' !!']);
  });

  it('splits like the Llama 3 regex: case-insensitive contractions, 3-digit groups, newline runs', () => {
    expect(split('llama-bpe', "I'M 1234567 ok\n\n  x")).toEqual(['I', "'M", ' ', '123', '456', '7', ' ok', '\n\n', ' ', ' x']);
  });

  it('splits like the Qwen2 regex: one digit at a time', () => {
    expect(split('qwen2', 'a 123')).toEqual(['a', ' ', '1', '2', '3']);
  });

  it('lets Qwen3.5 letter runs take combining marks', () => {
    expect(split('qwen2', 're\u0301sume\u0301')).toEqual(['re', '\u0301sume', '\u0301']);
    expect(split('qwen35', 're\u0301sume\u0301')).toEqual(['re\u0301sume\u0301']);
  });

  it('treats codepoints assigned after Unicode 15.1 as unassigned, as llama.cpp does', () => {
    // U+1C89 (Unicode 16) is not a letter to llama.cpp, so it joins the apostrophe
    expect(split('qwen2', "\u1C89're")).toEqual(["\u1C89'", 're']);
  });

  it('runs regexes without a hand-written splitter (deepseek-coder, falcon)', () => {
    expect(split('deepseek-coder', 'Hi 12,\nworld')).toEqual(['Hi', ' ', '1', '2', ',', '\n', 'world']);
    expect(split('falcon', 'a+=b 12345')).toEqual(['a', '+=', 'b', ' ', '123', '45']);
  });

  it('groups digits in threes from the right (AFMoE, tiny_aya), gluing preceding text on as llama.cpp does', () => {
    expect(new RegexSplitter(['\\p{AFMoE_digits}']).split('ab1234x56789z')).toEqual(['ab1', '234', 'x56', '789', 'z']);
    expect(split('tiny_aya', '1234567')).toEqual(['1', '234', '567']);
  });

  it('keeps every character, in order', () => {
    const text = ' 🦙\u00a0x\u3000\t\r\n€½ 日本語 \u0085y';
    const pres = ['gpt-2', 'llama-bpe', 'qwen2', 'qwen35', 'deepseek-llm', 'deepseek-coder', 'deepseek-v3', 'falcon', 'starcoder', 'gpt-4o',
      'tekken', 'chameleon', 'jais-2', 'youtu', 'bloom', 'viking', 'bailingmoe', 'seed-coder', 'exaone-moe', 'minicpm5', 'tiny_aya',
      'afmoe', 'laguna', 'gemma4', 'default'];
    for (const pre of pres) {
      expect(split(pre, text).join(''), pre).toBe(text);
    }
  });

  // The hand-written splitters must agree with the general regex path on the same expression
  // (wrapping it in a group bypasses the dispatch by exact text).
  it.each(['gpt-2', 'llama-bpe', 'qwen2', 'qwen35'])('hand-written %s splitter matches the regex path', (pre) => {
    const expr = resolvePreTokenizer(pre)!.expressions[0]!;
    const custom = new RegexSplitter([expr]);
    const general = new RegexSplitter([`(?:${expr})`]);
    const atoms = ['a', 'Z', 'é', 'Ω', '日', ' ', '  ', '\t', '\n', '\r\n', '0', '٣', "'", "'s", "'RE", "'ll", '!', '.', '$', '€', '🦙', '\u0301', '\u00a0', '\u3000', '\u0085', '\ufeff', '\u0000', '\u1C89', '²'];
    const rng = new Rng(42);
    for (let i = 0; i < 2000; i++) {
      let text = '';
      const n = 1 + (rng.nextU32() % 10);
      for (let j = 0; j < n; j++) text += atoms[rng.nextU32() % atoms.length];
      expect(custom.split(text), JSON.stringify(text)).toEqual(general.split(text));
    }
  });
});
