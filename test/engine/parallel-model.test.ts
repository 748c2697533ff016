import { afterEach, describe, expect, it } from 'vitest';
import { EngineDeadError, InvalidRequestError } from '../../src/errors/engine-error.js';
import { AsyncEngine, createServingEngine } from '../../src/engine/async-engine.js';
import { LoadedModel } from '../../src/engine/loaded-model.js';
import { Model } from '../../src/engine/model.js';
import type { ParallelExecutorOptions } from '../../src/parallel/parallel-executor.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { FakeParallelExecutor } from '../../src/testing/fake-parallel-executor.js';
import { fetchJson, postJson, startTestServer } from '../server/helpers.js';

// A parallel model with a fake executor (no workers): the tokenizer, template and info come from
// the bundled stories260K file as for a real one, every forward pass goes to the fake, whose
// logits peak at NEXT(token) of each row's token. So a greedy generation is a chain of NEXT.

const local = Model.load(DEFAULT_MODEL_PATH, { backend: 'reference', contextSize: 128 });
const CONFIG = local.config;
local.dispose();
const NEXT = (t: number): number => 300 + ((t * 13) % 100);

let opened: LoadedModel[] = [];
afterEach(async () => {
  for (const m of opened) await m.close();
  opened = [];
});

async function loadParallel(tensorParallel: number, pipelineParallel: number): Promise<{ model: LoadedModel; executor: FakeParallelExecutor; calls: ParallelExecutorOptions[] }> {
  const calls: ParallelExecutorOptions[] = [];
  let executor: FakeParallelExecutor | undefined;
  const model = await LoadedModel.loadAny(DEFAULT_MODEL_PATH, { tensorParallel, pipelineParallel, contextSize: 128 }, async (path, options) => {
    expect(path).toBe(DEFAULT_MODEL_PATH);
    calls.push(options);
    return (executor = new FakeParallelExecutor({ tensorParallel: options.tensorParallel, pipelineParallel: options.pipelineParallel, transport: options.transport }, CONFIG, NEXT));
  });
  opened.push(model);
  return { model, executor: executor!, calls };
}

describe('a model on workers (fake executor)', () => {
  it('loads with the plan, reads the tokenizer here, and generates greedily through the executor in micro-batches', async () => {
    const { model, executor, calls } = await loadParallel(2, 2);
    expect(calls).toEqual([expect.objectContaining({ tensorParallel: 2, pipelineParallel: 2, transport: 'shared-memory', contextSize: 128 })]);
    expect(calls[0]!.threadsPerWorker).toBeGreaterThanOrEqual(1);
    expect(calls[0]!.matmulPrecision).toBeUndefined();
    expect(model.parallelPlan).toEqual({ tensorParallel: 2, pipelineParallel: 2, transport: 'shared-memory' });
    expect(model.backendName).toBe('fake ×4 (tensor-parallel 2 × pipeline-parallel 2, shared-memory)');
    expect(model.config).toBe(CONFIG);
    expect(model.tokenize('Once upon a time')).toEqual([1, 403, 407, 261, 378]);

    const prompts = ['Once upon a time', 'The little dog', 'One day'];
    const results = await Promise.all(prompts.map((p) => model.complete(p, { temperature: 0, maxTokens: 4, ignoreEos: true })));
    results.forEach((r, i) => {
      const promptIds = model.tokenize(prompts[i]!, { addSpecial: true });
      const want: number[] = [];
      for (let t = promptIds.at(-1)!; want.length < 4; ) want.push((t = NEXT(t)));
      expect(r.tokenIds).toEqual(want);
    });
    expect(executor.kvAllocations).toHaveLength(1);
    expect(executor.forwardCalls.some((batches) => batches.length === 2)).toBe(true); // concurrent requests: two micro-batches
    expect(executor.forwardCalls.every((batches) => batches.length <= 2)).toBe(true);
  });

  it('embeds through the executor\'s hidden rows', async () => {
    const { model } = await loadParallel(2, 1);
    const ids = model.tokenize('Once upon', { addSpecial: true });
    // the fake's hidden row is [token, position, 0, ...]: the last row of the prompt
    const v = await model.embed('Once upon', { pooling: 'last', normalize: false });
    expect([...v.subarray(0, 2)]).toEqual([ids.at(-1)!, ids.length - 1]);
  });

  it('has no local network: evaluate() says so; one engine at a time holds the workers\' KV cache', async () => {
    const { model } = await loadParallel(1, 2);
    expect(() => model.evaluate([1, 2])).toThrow(InvalidRequestError);
    expect(() => model.evaluate([1, 2])).toThrow(/on the workers/);
    const engine = new AsyncEngine(model);
    expect(() => createServingEngine(model)).toThrow(/one engine at a time/);
    engine.disposeKvCache();
    new AsyncEngine(model).disposeKvCache(); // free again: a new engine may run
  });

  it('close() closes the executor; bad plans are refused before anything starts', async () => {
    const { model, executor } = await loadParallel(2, 1);
    await model.close();
    expect(executor.numCloses).toBe(1);
    const start = (): never => {
      throw new Error('must not start');
    };
    await expect(LoadedModel.loadAny(DEFAULT_MODEL_PATH, { tensorParallel: 0 }, start)).rejects.toThrow(/tensorParallel must be a positive integer/);
    await expect(LoadedModel.loadAny(DEFAULT_MODEL_PATH, { pipelineParallel: 1.5 }, start)).rejects.toThrow(/pipelineParallel must be a positive integer/);
    await expect(LoadedModel.loadAny(DEFAULT_MODEL_PATH, { tensorParallel: 2, parallelTransport: 'pigeon' as never }, start)).rejects.toThrow(/parallelTransport must be one of shared-memory, socket/);
    await expect(LoadedModel.loadAny(DEFAULT_MODEL_PATH, { tensorParallel: 2, matmulPrecision: 'fp3' as never }, start)).rejects.toThrow(/matmulPrecision must be 'exact', 'bf16' or 'fastest'/);
    // a plan of one worker loads in this process
    const one = await LoadedModel.loadAny(DEFAULT_MODEL_PATH, { tensorParallel: 1, pipelineParallel: 1, backend: 'reference' }, start);
    expect(one.parallelPlan).toBeUndefined();
    expect(one.network.config).toEqual(CONFIG);
    one.dispose();
  });

  it('a forward pass that rejects fails the open requests with EngineDeadError; the server stays up and says so', async () => {
    const { model, executor } = await loadParallel(2, 2);
    const engine = createServingEngine(model);
    const t = await startTestServer(engine);
    try {
      executor.failForward = new Error('worker 2 exited (code 1)');
      const stream = engine.generate('Once upon a time', { maxTokens: 4 });
      await expect(stream.next()).rejects.toThrow(EngineDeadError);
      expect(engine.deadReason).toMatch(/engine step failed: worker 2 exited/);
      expect(() => engine.generate('again')).toThrow(EngineDeadError);
      const r = await postJson(`${t.baseUrl}/v1/completions`, { model: 'stories260K', prompt: 'Hi', max_tokens: 2 });
      expect(r.status).toBeGreaterThanOrEqual(500);
      expect(r.body.error.code).toBe('engine_dead');
      const health = await fetchJson(`${t.baseUrl}/health`);
      expect(health.status).toBe(503);
    } finally {
      await t.close();
    }
  });

  it('shutdown waits for a step in flight, then closes the executor', async () => {
    const { model, executor } = await loadParallel(2, 1);
    const engine = new AsyncEngine(model);
    const controller = new AbortController();
    const stream = engine.generate('Once upon a time', { maxTokens: 50, ignoreEos: true, signal: controller.signal });
    await stream.next(); // a step has run
    controller.abort();
    await engine.shutdown();
    expect(executor.numCloses).toBe(1);
  });
});
