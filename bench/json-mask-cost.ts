/**
 * What a JSON-schema request's token mask costs beside a decode step (issue 21: under 5% of a step
 * at batch 1, under 10% at 16 streams), on the bench model's own vocabulary: the mask is computed
 * per request per step on the engine's thread (fillAllowedMask, then applyTokenMask on the logits
 * row), so at 16 constrained streams a step pays it 16 times.
 */
import { createServingEngine } from '../src/engine/async-engine.js';
import type { LoadedModel } from '../src/engine/loaded-model.js';
import { createConstraintCompiler, type CompiledConstraint, type ConstraintSpec } from '../src/grammar/index.js';
import { applyTokenMask } from '../src/sampling/logits-processors.js';
import type { Tokenizer } from '../src/tokenizer/tokenizer.js';

/** a nested object with an enum, a string format, a pattern, an integer range and an array */
export const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    email: { type: 'string', format: 'email' },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 8 },
    address: {
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } },
      required: ['street', 'city', 'zip'],
      additionalProperties: false,
    },
    role: { enum: ['admin', 'user', 'guest'] },
  },
  required: ['name', 'age', 'email', 'tags', 'address', 'role'],
  additionalProperties: false,
};

/** two documents of PERSON_SCHEMA: the first request for the schema follows one, a later request the other */
export const PERSON_DOCS = [
  { name: 'Ada Lovelace', age: 36, email: 'ada@example.com', tags: ['math', 'poetry', 'engines', 'Analytical Engine — notes'], address: { street: "12 St James's Square", city: 'London', zip: '10115' }, role: 'admin' },
  { name: 'Grace Hopper', age: 85, email: 'grace.hopper@navy.example', tags: ['COBOL', 'compilers'], address: { street: '1 Navy Yard', city: 'Arlington', zip: '22202' }, role: 'user' },
];

export interface MaskCost {
  /** mean ms per token of the first request for a schema (every state's mask computed), and of a later request with other values */
  readonly coldMsPerToken: number;
  readonly warmMsPerToken: number;
  readonly numTokens: number;
}

export interface DecodeSteps {
  /** wall ms per decode step of one sequence, and of `numStreams` sequences decoding together */
  readonly batch1Ms: number;
  readonly batchMs: number;
  readonly numStreams: number;
}

/** Follows `doc` token by token under `spec` as the engine does: the wall ms of each step's mask. */
export function followDocument(tokenizer: Tokenizer, compile: (spec: ConstraintSpec) => CompiledConstraint, spec: ConstraintSpec, doc: unknown, indent?: number): number[] {
  const ids = tokenizer.encode(JSON.stringify(doc, null, indent), { addSpecial: false });
  const constraint = compile(spec).create();
  const mask = new Uint32Array(Math.ceil(tokenizer.vocabSize / 32));
  const logits = new Float32Array(tokenizer.vocabSize); // [vocabSize] f32, one row
  const times: number[] = [];
  const timed = (): void => {
    const t = performance.now();
    constraint.fillAllowedMask(mask);
    applyTokenMask(logits, mask);
    times.push(performance.now() - t);
  };
  for (const id of ids) {
    timed();
    if (!((mask[id >>> 5]! >>> (id & 31)) & 1)) throw new Error(`token ${id} ${JSON.stringify(tokenizer.tokenText(id))} masked out`);
    constraint.acceptToken(id);
  }
  timed();
  if (!constraint.canEnd) throw new Error('document complete but canEnd is false');
  constraint.dispose();
  return times;
}

/** the mask's cost per token for PERSON_SCHEMA on `tokenizer`'s vocabulary (a fresh compiler: nothing cached) */
export function measureJsonMaskCost(tokenizer: Tokenizer): MaskCost {
  const compiler = createConstraintCompiler(tokenizer);
  compiler.compile({ type: 'json_object' }); // the vocabulary trie, built once per model (serve builds it at startup)
  const spec: ConstraintSpec = { type: 'json_schema', schema: PERSON_SCHEMA };
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cold = followDocument(tokenizer, (s) => compiler.compile(s), spec, PERSON_DOCS[0], 2);
  const warm = followDocument(tokenizer, (s) => compiler.compile(s), spec, PERSON_DOCS[1], 2);
  return { coldMsPerToken: mean(cold), warmMsPerToken: mean(warm), numTokens: cold.length + warm.length };
}

/** decode step times of `model` (unconstrained), alone and with `numStreams` sequences in one batch */
export async function measureDecodeSteps(model: LoadedModel, numStreams: number, numSteps: number): Promise<DecodeSteps> {
  const engine = createServingEngine(model, { maxNumSeqs: numStreams });
  try {
    const run = async (n: number): Promise<number> => {
      const startedAt: number[] = [];
      const endedAt: number[] = [];
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          for await (const chunk of engine.generate([1000 + i, 2000 + i, 3000 + i, 4000 + i], { temperature: 0, maxTokens: numSteps + 1, ignoreEos: true })) {
            if (chunk.tokenIds.length > 0 && startedAt[i] === undefined) startedAt[i] = performance.now();
          }
          endedAt[i] = performance.now();
        }),
      );
      // from the moment every sequence had its first token (prefill done) to the last one's end
      return (Math.max(...endedAt) - Math.max(...startedAt)) / numSteps;
    };
    await run(1); // warm-up
    return { batch1Ms: await run(1), batchMs: await run(numStreams), numStreams };
  } finally {
    await engine.shutdown();
  }
}
