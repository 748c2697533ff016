import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MetadataReader, readGguf } from '../formats/gguf/index.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/tokenizer.js';
import { Automaton, DEAD } from './automaton.js';
import { lowerGrammar } from './byte-program.js';
import { createConstraintCompiler, specToGbnf } from './constraint-compiler.js';
import { parseGbnf } from './gbnf-parser.js';
import type { CompiledGrammar } from './grammar-constraint.js';
import type { ConstraintSpec, TokenConstraint } from './token-constraint.js';

const LLAMA_BPE = fileURLToPath(new URL('../../../shared/models/vocab/ggml-vocab-llama-bpe.gguf', import.meta.url));
const enc = new TextEncoder();

/** A vocabulary from a list of byte strings, plus an end-of-generation, a control and an empty token. */
function syntheticTokenizer(pieces: Uint8Array[]): Tokenizer {
  const eos = pieces.length;
  const control = eos + 1;
  const empty = eos + 2;
  return {
    vocabSize: pieces.length + 3,
    tokenBytes: (id: number) => (id < pieces.length ? pieces[id]! : new Uint8Array(0)),
    isEndOfGeneration: (id: number) => id === eos,
    isControl: (id: number) => id === eos || id === control,
  } as unknown as Tokenizer;
}

function syntheticPieces(seed: number): Uint8Array[] {
  const set = new Map<string, Uint8Array>();
  const add = (b: Uint8Array): void => void set.set(Buffer.from(b).toString('latin1'), b);
  for (let b = 0; b < 256; b++) add(new Uint8Array([b]));
  const alphabet = ['{', '}', '[', ']', '"', ':', ',', ' ', '\n', 'a', 'b', 'x', '0', '1', '9', '-', '.', 'e', '\\', 'u', 'n', 't', 'é', '🐦'];
  for (const a of alphabet) for (const b of alphabet) add(enc.encode(a + b));
  let s = seed;
  const rand = (n: number): number => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % n;
  for (let i = 0; i < 1500; i++) {
    const len = 3 + rand(6);
    let text = '';
    for (let k = 0; k < len; k++) text += alphabet[rand(alphabet.length)];
    const bytes = enc.encode(text);
    add(bytes.slice(rand(2), bytes.length - rand(2))); // sometimes cut inside a multi-byte character
  }
  for (const w of ['"name', '":', '": "', '"},', 'true', 'false', 'null', ' "', '\n  ', '\n    "']) add(enc.encode(w));
  return [...set.values()];
}

/** longest-match tokenization over the synthetic pieces */
function greedyTokenize(pieces: Uint8Array[], text: string): number[] {
  const index = new Map(pieces.map((p, i) => [Buffer.from(p).toString('latin1'), i]));
  const bytes = Buffer.from(enc.encode(text)).toString('latin1');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    for (let len = Math.min(12, bytes.length - i); len > 0; len--) {
      const id = index.get(bytes.slice(i, i + len));
      if (id !== undefined) {
        out.push(id);
        i += len;
        break;
      }
    }
  }
  return out;
}

/**
 * Follows `ids` under `spec`, checking at every step that the mask equals the brute force answer:
 * token t is allowed iff (end-of-generation) the bytes so far are a complete match, or (text) the
 * bytes so far followed by t's bytes are a viable prefix, computed by a separate automaton.
 */
function followAndCompare(tokenizer: Tokenizer, spec: ConstraintSpec, ids: number[], constraint: TokenConstraint, stepsToCheck: Set<number> | undefined): number {
  const oracle = new Automaton(lowerGrammar(parseGbnf(specToGbnf(spec))));
  const mask = new Uint32Array(Math.ceil(tokenizer.vocabSize / 32));
  const prefix: number[] = [];
  let checked = 0;
  for (let step = 0; step <= ids.length; step++) {
    constraint.fillAllowedMask(mask);
    const state = oracle.run(oracle.initial, Uint8Array.from(prefix));
    expect(state).not.toBe(DEAD);
    expect(constraint.canEnd).toBe(oracle.canEnd(state));
    if (!stepsToCheck || stepsToCheck.has(step)) {
      checked++;
      const wrong: number[] = [];
      for (let t = 0; t < tokenizer.vocabSize; t++) {
        const bit = (mask[t >>> 5]! >>> (t & 31)) & 1;
        let expected: boolean;
        if (tokenizer.isEndOfGeneration(t)) expected = oracle.canEnd(state);
        else if (tokenizer.isControl(t)) expected = false;
        else {
          const bytes = tokenizer.tokenBytes(t);
          expected = bytes.length > 0 && oracle.run(state, bytes) !== DEAD;
        }
        if (bit !== (expected ? 1 : 0)) wrong.push(t);
      }
      expect(wrong.slice(0, 10), `step ${step}`).toEqual([]);
    }
    if (step < ids.length) {
      const id = ids[step]!;
      expect((mask[id >>> 5]! >>> (id & 31)) & 1, `token ${id} of the document is allowed at step ${step}`).toBe(1);
      constraint.acceptToken(id);
      prefix.push(...tokenizer.tokenBytes(id));
    }
  }
  return checked;
}

const schema = {
  $defs: { item: { type: 'object', properties: { id: { type: 'integer', minimum: -5, maximum: 300 }, tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 }, child: { anyOf: [{ $ref: '#/$defs/item' }, { type: 'null' }] } }, required: ['id'], additionalProperties: false } },
  type: 'object',
  properties: { name: { type: 'string' }, kind: { enum: ['a', 'b"c', 'é🐦'] }, items: { type: 'array', items: { $ref: '#/$defs/item' } }, ok: { type: 'boolean' }, score: { type: 'number' } },
  required: ['name', 'items'],
  additionalProperties: { type: 'string' },
};
const docs = [
  { name: 'x"\\é🐦\n', kind: 'b"c', items: [{ id: 7, tags: ['a', '🐦🐦'], child: { id: -5, child: null } }, { id: 300 }], ok: true, score: -1.25e3, extra: 'v' },
  { name: '', items: [], nam: 'not name' },
];

describe('token mask equals brute force over the vocabulary', () => {
  it('synthetic vocabulary: every step of documents under a schema, json_object, a grammar and a regex', () => {
    const pieces = syntheticPieces(1);
    const tokenizer = syntheticTokenizer(pieces);
    const compiler = createConstraintCompiler(tokenizer);
    const cases: [ConstraintSpec, string][] = [
      ...docs.flatMap((d): [ConstraintSpec, string][] => [
        [{ type: 'json_schema', schema }, JSON.stringify(d)],
        [{ type: 'json_schema', schema }, JSON.stringify(d, null, 2)],
        [{ type: 'json_object' }, JSON.stringify(d, null, 1)],
      ]),
      [{ type: 'gbnf', grammar: 'root ::= ("ab" | "a" "b"+ | [^a-z]{1,3})+ "!"' }, 'abbb9é!'],
      [{ type: 'regex', pattern: '(\\d{1,3}\\.){3}\\d{1,3}|[a-z]+@[a-z]+\\.(com|org)' }, '192.168.0.1'],
    ];
    let checked = 0;
    for (const [spec, text] of cases) {
      // twice: the second request is served from the cached masks
      for (let run = 0; run < 2; run++) checked += followAndCompare(tokenizer, spec, greedyTokenize(pieces, text), compiler.compile(spec).create(), undefined);
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('a request goes on, with the same masks, after its automaton is retired for size', () => {
    const pieces = syntheticPieces(3);
    const tokenizer = syntheticTokenizer(pieces);
    const spec: ConstraintSpec = { type: 'json_schema', schema };
    const compiled = createConstraintCompiler(tokenizer).compile(spec) as CompiledGrammar;
    const ids = greedyTokenize(pieces, JSON.stringify(docs[0], null, 2));
    const constraint = compiled.create();
    const half = Math.floor(ids.length / 2);
    const mask = new Uint32Array(Math.ceil(tokenizer.vocabSize / 32));
    for (const id of ids.slice(0, half)) {
      constraint.fillAllowedMask(mask);
      constraint.acceptToken(id);
    }
    const retired = compiled.automaton;
    compiled.retire(); // what create() does once the automaton is too large
    const oracle = new Automaton(compiled.program);
    const prefix = ids.slice(0, half).flatMap((id) => [...tokenizer.tokenBytes(id)]);
    for (const id of ids.slice(half)) {
      constraint.fillAllowedMask(mask);
      const state = oracle.run(oracle.initial, Uint8Array.from(prefix));
      const wrong: number[] = [];
      for (let t = 0; t < pieces.length; t++) {
        if (((mask[t >>> 5]! >>> (t & 31)) & 1) !== (oracle.run(state, tokenizer.tokenBytes(t)) === DEAD ? 0 : 1)) wrong.push(t);
      }
      expect(wrong).toEqual([]);
      constraint.acceptToken(id);
      prefix.push(...tokenizer.tokenBytes(id));
    }
    expect(constraint.canEnd).toBe(true);
    expect(compiled.automaton).not.toBe(retired);
  });

  it('end of generation, control and empty tokens; canEnd and mustEnd; acceptToken refuses what the mask refuses', () => {
    const pieces = syntheticPieces(2);
    const tokenizer = syntheticTokenizer(pieces);
    const [eos, control, empty] = [pieces.length, pieces.length + 1, pieces.length + 2];
    const c = createConstraintCompiler(tokenizer).compile({ type: 'gbnf', grammar: 'root ::= "a" "b"?' }).create();
    const mask = new Uint32Array(Math.ceil(tokenizer.vocabSize / 32));
    const bit = (t: number): number => (mask[t >>> 5]! >>> (t & 31)) & 1;
    const id = (text: string): number => pieces.findIndex((p) => Buffer.from(p).toString() === text);
    c.fillAllowedMask(mask);
    expect([bit(eos), bit(control), bit(empty), bit(id('a')), bit(id('ab')), bit(id('b'))]).toEqual([0, 0, 0, 1, 1, 0]);
    expect([c.canEnd, c.mustEnd]).toEqual([false, false]);
    expect(() => c.acceptToken(id('b'))).toThrow(/not allowed/);
    expect(() => c.acceptToken(eos)).toThrow(/before the match is complete/);
    expect(() => c.acceptToken(control)).toThrow(/never allowed/);
    c.acceptToken(id('a'));
    c.fillAllowedMask(mask);
    expect([bit(eos), bit(control), bit(id('b')), bit(id('a'))]).toEqual([1, 0, 1, 0]);
    expect([c.canEnd, c.mustEnd]).toEqual([true, false]);
    c.acceptToken(id('b'));
    expect([c.canEnd, c.mustEnd]).toEqual([true, true]);
    c.fillAllowedMask(mask);
    expect(mask.reduce((n, w) => n + popcount(w), 0)).toBe(1); // only end of generation
    c.acceptToken(eos);
    expect(c.mustEnd).toBe(true);
  });

  it.skipIf(!existsSync(LLAMA_BPE))('Llama 3 vocabulary (128,256 tokens): sampled steps of real documents', () => {
    const tokenizer = createTokenizer(new MetadataReader(readGguf(LLAMA_BPE).metadata, LLAMA_BPE));
    const compiler = createConstraintCompiler(tokenizer);
    let checked = 0;
    for (const [i, d] of docs.entries()) {
      const spec: ConstraintSpec = { type: 'json_schema', schema };
      const ids = tokenizer.encode(JSON.stringify(d, null, i), { addSpecial: false });
      checked += followAndCompare(tokenizer, spec, ids, compiler.compile(spec).create(), new Set(ids.map((_, k) => k).filter((k) => k % 3 === 0)));
    }
    const free = tokenizer.encode(JSON.stringify({ q: 'ça va? 日本語 🐦', n: [1, -2.5, 3e10], b: [true, false, null], o: {} }), { addSpecial: false });
    checked += followAndCompare(tokenizer, { type: 'json_object' }, free, compiler.compile({ type: 'json_object' }).create(), new Set(free.map((_, k) => k).filter((k) => k % 2 === 0)));
    expect(checked).toBeGreaterThan(40);
  });
});

function popcount(w: number): number {
  let n = 0;
  for (; w; w &= w - 1) n++;
  return n;
}
