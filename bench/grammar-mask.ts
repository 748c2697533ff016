/**
 * Token-mask cost of constrained decoding on Llama 3's 128,256-token vocabulary: follows a few
 * JSON documents token by token under their schema (fillAllowedMask then acceptToken per token, as
 * the engine does) and prints the compile time and the mean / p99 / max mask time per token, cold
 * (first request for the schema: every state's mask computed) and warm (a second request with
 * the same schema, served from the cached masks).
 *
 *   npx vite-node bench/grammar-mask.ts [path/to/vocab.gguf]
 */
import { fileURLToPath } from 'node:url';
import { MetadataReader, readGguf } from '../src/formats/gguf/index.js';
import { createConstraintCompiler, type ConstraintSpec } from '../src/grammar/index.js';
import { createTokenizer } from '../src/tokenizer/tokenizer.js';
import { PERSON_SCHEMA } from './json-mask-cost.js';

const path = process.argv[2] ?? fileURLToPath(new URL('../../shared/models/vocab/ggml-vocab-llama-bpe.gguf', import.meta.url));
const tokenizer = createTokenizer(new MetadataReader(readGguf(path).metadata, path));

interface Case { name: string; spec: ConstraintSpec; doc: unknown; indent?: number }
const person = PERSON_SCHEMA;
const tree = {
  $defs: { node: { type: 'object', properties: { label: { type: 'string' }, weight: { type: 'number' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['label', 'children'], additionalProperties: false } },
  $ref: '#/$defs/node',
};
const events = {
  type: 'object',
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      items: {
        anyOf: [
          { type: 'object', properties: { kind: { const: 'click' }, x: { type: 'integer' }, y: { type: 'integer' } }, required: ['kind', 'x', 'y'], additionalProperties: false },
          { type: 'object', properties: { kind: { const: 'key' }, key: { type: 'string', maxLength: 12 }, at: { type: 'string', format: 'date-time' } }, required: ['kind', 'key', 'at'], additionalProperties: false },
        ],
      },
    },
    note: { type: ['string', 'null'] },
  },
  required: ['events', 'note'],
  additionalProperties: false,
};
const cases: Case[] = [
  {
    name: 'person (nested object, enum, format, pattern, int range)',
    spec: { type: 'json_schema', schema: person },
    doc: { name: 'Ada Lovelace', age: 36, email: 'ada@example.com', tags: ['math', 'poetry', 'engines', 'Analytical Engine — notes'], address: { street: '12 St James\'s Square', city: 'London', zip: '10115' }, role: 'admin' },
    indent: 2,
  },
  {
    name: 'tree ($defs recursion)',
    spec: { type: 'json_schema', schema: tree },
    doc: { label: 'root', weight: 1.5, children: [{ label: 'a', children: [{ label: 'a1', weight: -0.25, children: [] }] }, { label: 'b — ünïcödé 🐦', children: [] }] },
  },
  {
    name: 'events (anyOf, date-time, type list)',
    spec: { type: 'json_schema', schema: events },
    doc: { events: [{ kind: 'click', x: 10, y: -3 }, { kind: 'key', key: 'Enter', at: '2024-05-06T07:08:09Z' }, { kind: 'click', x: 999, y: 0 }], note: null },
    indent: 1,
  },
  {
    name: 'json_object (free-form)',
    spec: { type: 'json_object' },
    doc: { query: 'weather in Paris', units: 'metric', days: [1, 2, 3], extra: { nested: true, n: null, text: 'Il fait beau aujourd\'hui, 22°C.' } },
  },
];

const compiler = createConstraintCompiler(tokenizer);
const mask = new Uint32Array(Math.ceil(tokenizer.vocabSize / 32));
const t0 = performance.now();
compiler.compile({ type: 'json_object' }); // builds the vocabulary trie once
console.log(`vocab ${tokenizer.vocabSize} tokens; trie + first compile ${(performance.now() - t0).toFixed(1)} ms`);

/** wall and CPU milliseconds of each fillAllowedMask (CPU time is the honest figure on a shared machine) */
function follow(c: Case): { wall: number[]; cpu: number[] } {
  const text = JSON.stringify(c.doc, null, c.indent);
  const ids = tokenizer.encode(text, { addSpecial: false });
  const constraint = compiler.compile(c.spec).create();
  const wall: number[] = [];
  const cpu: number[] = [];
  const timed = (): void => {
    const c0 = process.cpuUsage();
    const t = performance.now();
    constraint.fillAllowedMask(mask);
    wall.push(performance.now() - t);
    const dc = process.cpuUsage(c0);
    cpu.push((dc.user + dc.system) / 1000);
  };
  for (const id of ids) {
    timed();
    if (!((mask[id >>> 5]! >>> (id & 31)) & 1)) throw new Error(`${c.name}: token ${id} ${JSON.stringify(tokenizer.tokenText(id))} masked out`);
    constraint.acceptToken(id);
  }
  timed();
  if (!constraint.canEnd) throw new Error(`${c.name}: document complete but canEnd is false`);
  constraint.dispose();
  return { wall, cpu };
}

const stats = (times: number[]): string => {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
  return `mean ${mean.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms  max ${sorted[sorted.length - 1]!.toFixed(3)} ms`;
};

const all = { cold: { wall: [] as number[], cpu: [] as number[] }, warm: { wall: [] as number[], cpu: [] as number[] } };
for (const c of cases) {
  const tc = performance.now();
  compiler.compile(c.spec);
  const compileMs = performance.now() - tc;
  const cold = follow(c);
  const warm = follow(c);
  for (const k of ['wall', 'cpu'] as const) {
    all.cold[k].push(...cold[k]);
    all.warm[k].push(...warm[k]);
  }
  console.log(`${c.name}: ${cold.wall.length} steps, compile ${compileMs.toFixed(1)} ms`);
  console.log(`  cold (first request): wall ${stats(cold.wall)} | cpu ${stats(cold.cpu)}`);
  console.log(`  warm (same schema):   wall ${stats(warm.wall)} | cpu ${stats(warm.cpu)}`);
}
console.log(`all cold: wall ${stats(all.cold.wall)} | cpu ${stats(all.cold.cpu)}`);
console.log(`all warm: wall ${stats(all.warm.wall)} | cpu ${stats(all.warm.cpu)}`);
