import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors/engine-error.js';
import { readModel } from '../../src/formats/read-model.js';
import { selectBackend } from '../../src/kernels/select-backend.js';
import type { ForwardBatch } from '../../src/models/forward-batch.js';
import { createModel } from '../../src/models/registry.js';
import { Workspace } from '../../src/models/workspace.js';
import type { ParallelPlan } from '../../src/parallel/parallel-executor.js';
import { startParallelExecutor, type ShardedExecutor } from '../../src/parallel/start-parallel-executor.js';
import { TRANSPORT_KINDS } from '../../src/parallel/transport.js';
import { TransportError } from '../../src/parallel/transport-error.js';
import { buildForwardBatch, type BatchSequence } from '../../src/runner/build-forward-batch.js';
import { maxRelativeError } from '../../src/testing/relative-error.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';

/**
 * A whole model sharded over workers (startParallelExecutor: tensor parallelism, pipeline
 * parallelism, both) against the same model on one backend in this process: a prefill of two
 * sequences, then greedy decode steps, each step's logits within 1e-5 relative of one worker's
 * and the same greedy tokens. With pipeline parallelism the step is two micro-batches (one
 * sequence each), the reference runs the same two batches. The KV cache is f32 (an f16 cache
 * would round K/V that differ in their last f32 bit to different f16 values).
 */

const TEST_TIMEOUT_MS = 60_000;
const BLOCK_SIZE = 16;
const NUM_BLOCKS = 8;
const DECODE_STEPS = 8;
const PROMPTS = [[1, 5, 9, 14, 2, 7], [1, 30, 4, 11, 8]];
const STORIES = '../shared/models/stories260K/stories260K.gguf';
const PLANS: readonly Omit<ParallelPlan, 'transport'>[] = [
  { tensorParallel: 2, pipelineParallel: 1 },
  { tensorParallel: 1, pipelineParallel: 2 },
  { tensorParallel: 2, pipelineParallel: 2 },
];

const dir = mkdtempSync(join(tmpdir(), 'peregrine-parallel-'));
const SYNTHETIC = {
  'synthetic tiny F32': writeSyntheticModel(join(dir, 'tiny-f32.gguf'), { shape: 'tiny', weightType: 'F32', seed: 5 }).path,
  'synthetic tiny Q8_0': writeSyntheticModel(join(dir, 'tiny-q8_0.gguf'), { shape: 'tiny', weightType: 'Q8_0', seed: 5 }).path,
  'synthetic tiny-qwen2 Q4_0': writeSyntheticModel(join(dir, 'tiny-qwen2-q4_0.gguf'), { shape: 'tiny-qwen2', weightType: 'Q4_0', seed: 5 }).path,
  // post-norms after each block (only on a summed output), soft-capped attention and logits, scaled embeddings
  'synthetic tiny-gemma2 Q8_0': writeSyntheticModel(join(dir, 'tiny-gemma2-q8_0.gguf'), { shape: 'tiny-gemma2', weightType: 'Q8_0', seed: 5 }).path,
  // q/k norms, local and global layers by their index in the whole model (layer 5 is global: on stage 1 of 2)
  'synthetic tiny-gemma3 Q4_0': writeSyntheticModel(join(dir, 'tiny-gemma3-q4_0.gguf'), { shape: 'tiny-gemma3', weightType: 'Q4_0', seed: 5 }).path,
  // q/k/v in one attn_qkv and gate/up in one ffn_up (split by heads and features), LongRoPE factors by the context size
  'synthetic tiny-phi3 Q8_0': writeSyntheticModel(join(dir, 'tiny-phi3-q8_0.gguf'), { shape: 'tiny-phi3', weightType: 'Q8_0', seed: 5 }).path,
};
const MODELS: Record<string, string> = { ...(existsSync(STORIES) ? { stories260K: STORIES } : {}), ...SYNTHETIC };
if (!existsSync(STORIES)) console.warn(`skipping stories260K: ${STORIES} is absent`);

const single = selectBackend('auto', { threads: 1 });
afterAll(() => {
  single.dispose();
  rmSync(dir, { recursive: true, force: true });
});

let executors: ShardedExecutor[] = [];
afterEach(async () => {
  await Promise.all(executors.map((e) => e.close()));
  executors = [];
});

interface StepOutputs {
  readonly logits: Float32Array;
  readonly argmax: Int32Array;
}

/**
 * Prefill then DECODE_STEPS greedy steps over PROMPTS, each step's batches from `microBatchesOf`,
 * run by `step`; returns every step's outputs. Sequence s owns blocks [2s, 2s + 1].
 */
async function greedyRun(numMicroBatches: number, step: (batches: ForwardBatch[]) => Promise<StepOutputs>): Promise<StepOutputs[]> {
  const ws = new Workspace(single);
  const blockTables = PROMPTS.map((_, s) => Int32Array.from([2 * s, 2 * s + 1]));
  const lengths = PROMPTS.map((p) => p.length);
  let next: BatchSequence[] = PROMPTS.map((p, s) => ({ tokenIds: p, startPosition: 0, blockTable: blockTables[s]!, logitRows: [p.length - 1] }));
  const outputs: StepOutputs[] = [];
  for (let i = 0; i <= DECODE_STEPS; i++) {
    const groups = numMicroBatches === 1 ? [next] : next.map((s) => [s]);
    const out = await step(groups.map((g) => buildForwardBatch(g, BLOCK_SIZE, ws)));
    outputs.push(out);
    next = PROMPTS.map((_, s) => ({ tokenIds: [out.argmax[s]!], startPosition: lengths[s]!, blockTable: blockTables[s]!, logitRows: [0] }));
    lengths.forEach((_, s) => lengths[s]!++);
  }
  ws.dispose();
  return outputs;
}

/** the same run on one backend in this process */
async function referenceRun(path: string, numMicroBatches: number): Promise<StepOutputs[]> {
  const model = createModel(readModel(path), single, { contextSize: 256 });
  const c = model.config;
  const kv = single.allocateKvCache({ numLayers: c.numLayers, kvDim: c.numKvHeads * c.headDim, numBlocks: NUM_BLOCKS, blockSize: BLOCK_SIZE, dtype: 'f32' });
  try {
    return await greedyRun(numMicroBatches, (batches) => {
      const logits: Float32Array[] = [];
      const argmax: number[] = [];
      for (const b of batches) {
        const out = model.forward(b, kv);
        logits.push(single.read(out).slice(0, b.logitRows.length * c.vocabSize));
        argmax.push(...model.argmaxRows(out, b.logitRows.length));
      }
      const all = new Float32Array(logits.reduce((n, l) => n + l.length, 0));
      logits.reduce((offset, l) => (all.set(l, offset), offset + l.length), 0);
      return Promise.resolve({ logits: all, argmax: Int32Array.from(argmax) });
    });
  } finally {
    kv.dispose();
    model.dispose();
  }
}

/**
 * Every plan for stories260K, the llama Q8_0 model and each architecture with layers of its own
 * (gemma2, gemma3, phi3) over shared memory; TP=2 × PP=2 (both splits at once) for every model
 * over shared memory, and over sockets for stories260K, the Qwen2 and the Phi-3 model (what
 * travels is activations, whatever the weights' type: the tiny F32 and Q8_0 models add nothing to
 * the transport). Each case starts its own workers, which costs more than the run (each
 * transpiles the sources), so the matrix is not the full product.
 */
const EVERY_PLAN = new Set(['stories260K', 'synthetic tiny Q8_0', 'synthetic tiny-gemma2 Q8_0', 'synthetic tiny-gemma3 Q4_0', 'synthetic tiny-phi3 Q8_0']);
const OVER_SOCKETS = new Set(['stories260K', 'synthetic tiny-qwen2 Q4_0', 'synthetic tiny-phi3 Q8_0']);
const CASES = TRANSPORT_KINDS.flatMap((transport) =>
  Object.entries(MODELS)
    .filter(([name]) => transport === 'shared-memory' || OVER_SOCKETS.has(name))
    .flatMap(([name, path]) =>
      PLANS.filter((p) => (p.tensorParallel > 1 && p.pipelineParallel > 1) || (transport === 'shared-memory' && EVERY_PLAN.has(name))).map(
        (plan) => ({ ...plan, transport, name, path }),
      ),
    ),
);

describe('a model sharded over workers', () => {
  it.each(CASES)(
    '$name, TP=$tensorParallel PP=$pipelineParallel over $transport: logits within 1e-5 of one worker, the same greedy tokens',
    async ({ name, path, ...plan }) => {
      const numMicroBatches = plan.pipelineParallel > 1 ? 2 : 1;
      const expected = await referenceRun(path, numMicroBatches);
      const executor = await startParallelExecutor(path, { ...plan, contextSize: 256 });
      executors.push(executor);
      expect(executor.backendNames).toHaveLength(plan.tensorParallel * plan.pipelineParallel);
      await executor.allocateKvCache({ numBlocks: NUM_BLOCKS, blockSize: BLOCK_SIZE, dtype: 'f32' });
      const actual = await greedyRun(numMicroBatches, (batches) => executor.forward(batches));
      actual.forEach((out, i) => {
        const error = maxRelativeError(out.logits, expected[i]!.logits);
        expect(error, `${name} step ${i}: relative error ${error}`).toBeLessThan(1e-5);
        expect([...out.argmax], `${name} step ${i}`).toEqual([...expected[i]!.argmax]);
      });
    },
    TEST_TIMEOUT_MS,
  );
});

describe.each(TRANSPORT_KINDS)('a sharded model over %s', (transport) => {
  it(
    'rejects forward with a TransportError when a worker dies mid-step, and closes twice',
    async () => {
      const executor = await startParallelExecutor(SYNTHETIC['synthetic tiny F32'], { tensorParallel: 2, pipelineParallel: 2, transport, contextSize: 256 });
      executors.push(executor);
      await executor.allocateKvCache({ numBlocks: NUM_BLOCKS, blockSize: BLOCK_SIZE, dtype: 'f32' });
      const ws = new Workspace(single);
      const batch = buildForwardBatch([{ tokenIds: Array.from({ length: 32 }, (_, i) => i + 1), startPosition: 0, blockTable: Int32Array.from([0, 1]), logitRows: [31] }], BLOCK_SIZE, ws);
      const step = executor.forward([batch]);
      executor.kill(2);
      await expect(step).rejects.toBeInstanceOf(TransportError);
      await expect(executor.forward([batch])).rejects.toBeInstanceOf(TransportError);
      await executor.close();
      await executor.close();
      ws.dispose();
    },
    TEST_TIMEOUT_MS,
  );
});

describe('worker backends', () => {
  it('take the matmul precision asked for: the same backend as this process would select', async () => {
    const local = selectBackend('auto', { threads: 1, matmulPrecision: 'bf16' });
    const name = local.name; // e.g. native-avx512-bf16-packed-bf16 where the CPU has bf16 batches
    const { hasBf16Batches } = local;
    local.dispose();
    const executor = await startParallelExecutor(SYNTHETIC['synthetic tiny F32'], { tensorParallel: 2, pipelineParallel: 1, transport: 'shared-memory', matmulPrecision: 'bf16', contextSize: 256 });
    executors.push(executor);
    expect(executor.backendNames).toEqual([name, name]);
    expect(executor.hasBf16Batches).toBe(hasBf16Batches);
  });
});

describe('parallel plans a model cannot take', () => {
  const tiny = SYNTHETIC['synthetic tiny F32']; // 4 heads, 2 KV heads, FFN 512, 2 layers
  it.each([
    [{ tensorParallel: 3, pipelineParallel: 1 }, /tensorParallel 3 does not divide the model's 4 attention heads/],
    [{ tensorParallel: 4, pipelineParallel: 1 }, /tensorParallel 4 does not divide the model's 2 KV heads/],
    [{ tensorParallel: 1, pipelineParallel: 3 }, /pipelineParallel 3 exceeds the model's 2 layers/],
    [{ tensorParallel: 0, pipelineParallel: 1 }, /tensorParallel must be a positive integer/],
  ])('%o is refused before any worker starts', async (plan, message) => {
    const start = startParallelExecutor(tiny, { ...plan, transport: 'shared-memory', contextSize: 256 });
    await expect(start).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(start).rejects.toThrow(message);
  });
});
