import { describe, expect, it } from 'vitest';
import { RequestFailedError } from '../errors/engine-error.js';
import { MetadataReader } from '../formats/gguf/index.js';
import type { Runner, RunnerOutput } from '../runner/model-runner.js';
import { Sampler } from '../sampling/sampler.js';
import { Request } from '../scheduler/request.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildSpmVocab } from '../testing/synthetic-vocab.js';
import { StreamingDetokenizer } from '../tokenizer/streaming-detokenizer.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { EngineCore, type EngineCoreConfig, type RequestState } from './engine-core.js';
import type { GenerationChunk } from './generation-options.js';
import { StopMatcher } from './stop-matcher.js';

const VOCAB_SIZE = 512;
const tokenizer = createTokenizer(new MetadataReader(new Map(Object.entries(buildSpmVocab(VOCAB_SIZE, 0).metadata)), 'test'));
const EOS = tokenizer.eosId!;

/**
 * A runner that runs no model: each request samples the next token of its script (then 300
 * forever), as a logits row with one peak; NaN rows for requests named in `nonFinite`.
 */
class FakeRunner implements Runner {
  readonly steps: { requestId: string; numTokens: number; startPosition: number }[][] = [];
  constructor(
    private readonly scripts: ReadonlyMap<string, readonly number[]>,
    private readonly nonFinite: ReadonlySet<string> = new Set(),
  ) {}
  private readonly numSampled = new Map<string, number>();

  execute(output: SchedulerOutput): RunnerOutput {
    this.steps.push(output.scheduled.map((s) => ({ requestId: s.requestId, numTokens: s.numTokens, startPosition: s.startPosition })));
    const requestIds = output.scheduled.filter((s) => s.isPrefillComplete).map((s) => s.requestId);
    const logits = new Float32Array(requestIds.length * VOCAB_SIZE); // [requestIds.length, vocabSize]
    requestIds.forEach((requestId, row) => {
      const rowLogits = logits.subarray(row * VOCAB_SIZE, (row + 1) * VOCAB_SIZE);
      if (this.nonFinite.has(requestId)) return rowLogits.fill(NaN);
      const i = this.numSampled.get(requestId) ?? 0;
      this.numSampled.set(requestId, i + 1);
      rowLogits[this.scripts.get(requestId)?.[i] ?? 300] = 10;
    });
    return { requestIds, logits, vocabSize: VOCAB_SIZE };
  }

  argmaxRows(logits: Float32Array, numRows: number): Int32Array {
    return Int32Array.from({ length: numRows }, (_, r) => {
      const row = logits.subarray(r * VOCAB_SIZE, (r + 1) * VOCAB_SIZE);
      return row.indexOf(Math.max(...row));
    });
  }
}

interface Stream {
  readonly chunks: GenerationChunk[];
  isEnded: boolean;
  error: unknown;
}

function request(requestId: string, numPromptTokens: number, maxTokens: number): { request: Request<RequestState>; stream: Stream } {
  const stream: Stream = { chunks: [], isEnded: false, error: undefined };
  const state: RequestState = {
    sampler: new Sampler({ temperature: 0 }),
    detokenizer: new StreamingDetokenizer(tokenizer),
    stopMatcher: new StopMatcher([]),
    maxTokens,
    ignoreEos: false,
    numLogprobs: undefined,
    emit: (chunk) => stream.chunks.push(chunk),
    end: () => (stream.isEnded = true),
    fail: (error) => (stream.error = error),
  };
  const promptTokenIds = Array.from({ length: numPromptTokens }, (_, i) => 260 + i);
  return { request: new Request({ requestId, promptTokenIds, params: state }), stream };
}

const config: EngineCoreConfig = { maxNumSeqs: 4, maxNumBatchedTokens: 8, maxQueueLength: 16, maxModelLen: 64, numKvBlocks: 16, blockSize: 4 };

/** steps until no request is open; checks the KV accounting after every step */
function runToEnd(core: EngineCore, maxSteps = 50): void {
  for (let i = 0; core.hasWork; i++) {
    expect(i).toBeLessThan(maxSteps);
    core.step();
    expect(core.scheduler.kvCacheManager.listInvariantViolations()).toEqual([]);
  }
}

describe('EngineCore with a fake runner (no kernels)', () => {
  it('prefills in chunks within the token budget, decodes, stops at EOS or maxTokens, and frees every KV block', () => {
    const runner = new FakeRunner(new Map([['a', [400, 401, 402, 403]], ['b', [410, EOS]]]));
    const core = new EngineCore(runner, tokenizer, config);
    const a = request('a', 10, 3);
    const b = request('b', 3, 10);
    core.addRequest(a.request);
    core.addRequest(b.request);
    runToEnd(core);

    // step 1: a's first 8-token chunk fills the budget; step 2: the rest of a's prompt, then b's
    // prompt; then one decode token each while both run
    expect(runner.steps[0]).toEqual([{ requestId: 'a', numTokens: 8, startPosition: 0 }]);
    expect(runner.steps[1]).toEqual([
      { requestId: 'a', numTokens: 2, startPosition: 8 },
      { requestId: 'b', numTokens: 3, startPosition: 0 },
    ]);
    expect(runner.steps[2]).toEqual([
      { requestId: 'a', numTokens: 1, startPosition: 10 },
      { requestId: 'b', numTokens: 1, startPosition: 3 },
    ]);
    expect(runner.steps[3]).toEqual([{ requestId: 'a', numTokens: 1, startPosition: 11 }]);
    expect(runner.steps).toHaveLength(4);

    const tokens = (s: Stream): number[] => s.chunks.flatMap((c) => c.tokenIds);
    expect(tokens(a.stream)).toEqual([400, 401, 402]);
    expect(a.stream.chunks.at(-1)).toMatchObject({ finishReason: 'length', usage: { promptTokens: 10, completionTokens: 3 } });
    expect(tokens(b.stream)).toEqual([410, EOS]);
    expect(b.stream.chunks.at(-1)).toMatchObject({ finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 } });
    expect([a.stream.isEnded, b.stream.isEnded]).toEqual([true, true]);
    expect(core.scheduler.stats).toMatchObject({ numRunning: 0, numWaiting: 0, kvCacheUsage: 0 });
  });

  it('an abort ends the stream with finishReason abort and frees the request\'s blocks at once', () => {
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, config);
    const a = request('a', 6, 100);
    core.addRequest(a.request);
    core.step();
    core.step();
    expect(core.scheduler.stats.kvCacheUsage).toBeGreaterThan(0);
    core.abort('a');
    expect(a.stream.chunks.at(-1)).toMatchObject({ finishReason: 'abort' });
    expect(a.stream.isEnded).toBe(true);
    expect(core.hasWork).toBe(false);
    expect(core.scheduler.stats.kvCacheUsage).toBe(0);
  });

  it('a request with non-finite logits fails alone; the others in its batch go on', () => {
    const runner = new FakeRunner(new Map([['good', [400, 401]]]), new Set(['bad']));
    const core = new EngineCore(runner, tokenizer, config);
    const good = request('good', 4, 2);
    const bad = request('bad', 4, 2);
    core.addRequest(good.request);
    core.addRequest(bad.request);
    runToEnd(core);
    expect(bad.stream.error).toBeInstanceOf(RequestFailedError);
    expect((bad.stream.error as RequestFailedError).code).toBe('NON_FINITE_LOGITS');
    expect(good.stream.chunks.flatMap((c) => c.tokenIds)).toEqual([400, 401]);
    expect(good.stream.chunks.at(-1)).toMatchObject({ finishReason: 'length' });
    expect(core.scheduler.stats.kvCacheUsage).toBe(0);
  });
});
