import { describe, expect, it } from 'vitest';
import { JsonScanner } from './json-scanner.js';

/** scans `text`: whether every character was accepted and the root completed, and the significant characters */
function scan(text: string): { isValid: boolean; compact: string; events: string[] } {
  let compact = '';
  const events: string[] = [];
  const scanner = new JsonScanner({
    valueStart: (depth, ch) => events.push(`start ${depth} ${ch}`),
    valueEnd: (depth) => events.push(`end ${depth}`),
    key: (depth, key) => events.push(`key ${depth} ${key}`),
    char: (ch) => (compact += ch),
  });
  let isValid = true;
  for (const ch of text) if (!scanner.push(ch)) isValid = false;
  return { isValid: isValid && scanner.isComplete, compact, events };
}

/** a seeded generator of JSON values: nested objects and arrays, strings with escapes and non-ASCII, numbers of every form */
function randomValue(next: () => number, depth: number): unknown {
  const r = next();
  if (depth < 3 && r < 0.25) return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}${'"\\é\n'[Math.floor(next() * 4)]}`, randomValue(next, depth + 1)]));
  if (depth < 3 && r < 0.45) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  if (r < 0.6) return ['', 'Paris', 'a "quote"', 'back\\slash', 'tab\there', 'line\nbreak', '\u0001', 'é中😀'][Math.floor(next() * 8)];
  if (r < 0.8) return [0, -1, 12, 3.25, -0.5, 1e21, 2.5e-7, 123456789][Math.floor(next() * 8)];
  return [true, false, null][Math.floor(next() * 3)];
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('JsonScanner', () => {
  it('accepts JSON.stringify output at any indentation, and its significant characters are the compact text', () => {
    const next = seeded(1);
    for (let i = 0; i < 500; i++) {
      const value = next() < 0.5 ? { root: randomValue(next, 0) } : [randomValue(next, 0)];
      const compact = JSON.stringify(value);
      for (const text of [compact, JSON.stringify(value, null, 2), ` ${JSON.stringify(value, null, '\t')}\r\n`]) {
        const result = scan(text);
        expect(result.isValid, text).toBe(true);
        expect(result.compact).toBe(compact);
      }
    }
  });

  it('accepts exactly what JSON.parse accepts, on mutated texts (object and array roots)', () => {
    const next = seeded(2);
    const alphabet = '{}[]:,"\\ -0123456789.eE+tfnrulasx\u0001';
    let numChecked = 0;
    for (let i = 0; i < 4000; i++) {
      let text = JSON.stringify([randomValue(next, 0), { a: randomValue(next, 1) }]);
      const numEdits = 1 + Math.floor(next() * 2);
      for (let e = 0; e < numEdits; e++) {
        const at = Math.floor(next() * text.length);
        const ch = alphabet[Math.floor(next() * alphabet.length)]!;
        text = next() < 0.5 ? text.slice(0, at) + ch + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at);
      }
      if (!/^\s*[[{]/.test(text)) continue;
      let isParsed = true;
      try {
        JSON.parse(text);
      } catch {
        isParsed = false;
      }
      expect(scan(text).isValid, text).toBe(isParsed);
      numChecked++;
    }
    expect(numChecked).toBeGreaterThan(3000);
  });

  it('reports values by depth, keys decoded, a number ending at the character after it', () => {
    expect(scan('{"a\\"b": [1, "x"], "c": {}}').events).toEqual([
      'start 0 {',
      'key 1 a"b',
      'start 1 [',
      'start 2 1',
      'end 2',
      'start 2 "',
      'end 2',
      'end 1',
      'key 1 c',
      'start 1 {',
      'end 1',
      'end 0',
    ]);
  });
});
