import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FinishReason } from '../../engine/generation-options.js';
import type { ServingEngine } from '../../engine/serving-engine.js';

const PREFIX = 'peregrine:';

/**
 * Prometheus metrics for one server: a registry of its own (never prom-client's global one), request
 * latencies and token counts observed by the handlers, and engine state read from engine.stats()
 * at scrape time.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly timeToFirstToken: Histogram;
  private readonly timePerOutputToken: Histogram;
  private readonly numPromptTokens: Counter;
  private readonly numGenerationTokens: Counter;
  private readonly numRequestSuccesses: Counter<'finished_reason'>;

  constructor(engine: ServingEngine, modelName: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model_name: modelName });
    this.timeToFirstToken = new Histogram({
      name: `${PREFIX}time_to_first_token_seconds`,
      help: 'Seconds from request arrival to the first generated token',
      buckets: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80],
      registers,
    });
    this.timePerOutputToken = new Histogram({
      name: `${PREFIX}time_per_output_token_seconds`,
      help: 'Mean seconds per generated token after the first, per request',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5],
      registers,
    });
    this.numPromptTokens = new Counter({ name: `${PREFIX}prompt_tokens_total`, help: 'Prompt tokens processed', registers });
    this.numGenerationTokens = new Counter({ name: `${PREFIX}generation_tokens_total`, help: 'Tokens generated', registers });
    this.numRequestSuccesses = new Counter({
      name: `${PREFIX}request_success_total`,
      help: 'Finished generations by finish reason',
      labelNames: ['finished_reason'],
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('num_requests_waiting', 'Requests waiting to be scheduled', () => engine.stats().numWaiting);
    gauge('num_requests_running', 'Requests being generated', () => engine.stats().numRunning);
    gauge('kv_cache_usage_ratio', 'Fraction of KV cache blocks in use (0..1)', () => engine.stats().kvCacheUsage);
    // the engine keeps these totals; a scrape copies them into counters
    const engineCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    engineCounter('prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache', () => engine.stats().numPrefixCacheQueryTokens);
    engineCounter('prefix_cache_hits_total', 'Prompt tokens found in the prefix cache', () => engine.stats().numPrefixCacheHitTokens);
    engineCounter('num_preemptions_total', 'Requests preempted for lack of KV cache', () => engine.stats().numPreemptions);
  }

  observeFirstToken(seconds: number): void {
    this.timeToFirstToken.observe(seconds);
  }

  /** One finished generation: its token counts and decode speed. */
  observeFinished(reason: FinishReason, numPromptTokens: number, numGeneratedTokens: number, decodeSeconds: number): void {
    this.numRequestSuccesses.inc({ finished_reason: reason });
    this.numPromptTokens.inc(numPromptTokens);
    this.numGenerationTokens.inc(numGeneratedTokens);
    if (numGeneratedTokens > 1) this.timePerOutputToken.observe(decodeSeconds / (numGeneratedTokens - 1));
  }
}
