import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FinishReason, GenerationTimings } from '../../engine/generation-options.js';
import type { ServingEngine } from '../../engine/serving-engine.js';

/** our own names */
const PREFIX = 'peregrine:';
/** vLLM's names, which Grafana dashboards and inference gateways (Gateway API Inference Extension, llm-d) read */
const VLLM = 'vllm:';

// vLLM's bucket choices (vllm/v1/metrics/loggers.py)
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const TOKEN_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
// ours keeps its finer low end for per-token times (a CPU engine's tokens take milliseconds)
const OUR_TOKEN_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, ...TOKEN_LATENCY_BUCKETS];
const OUR_REQUEST_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, ...REQUEST_LATENCY_BUCKETS];

/** 1, 2, 5, 10, 20, 50, ... up to maxValue (vLLM's build_1_2_5_buckets, for token counts) */
export function buckets125(maxValue: number): number[] {
  const out: number[] = [];
  for (let exponent = 1; ; exponent *= 10) {
    for (const mantissa of [1, 2, 5]) {
      const value = mantissa * exponent;
      if (value > maxValue) return out;
      out.push(value);
    }
  }
}

/** One finished generation, as the server saw it and as the engine timed it. */
export interface FinishedGeneration {
  readonly reason: FinishReason;
  readonly numPromptTokens: number;
  readonly numGeneratedTokens: number;
  /** from the HTTP request's arrival to the generation's end */
  readonly e2eSeconds: number;
  /** from its first token to its end (0 when it generated none) */
  readonly decodeSeconds: number;
  /** the engine's queue/prefill/decode times, when it reported them */
  readonly timings: GenerationTimings | undefined;
}

/**
 * Prometheus metrics for one server: a registry of its own (never prom-client's global one), request
 * latencies and token counts observed by the handlers, and engine state read from engine.stats()
 * at scrape time. Each series is exported under our `peregrine:` names and under vLLM's `vllm:`
 * names (kv cache: `peregrine:kv_cache_usage_ratio` and `vllm:kv_cache_usage_perc`, both 0..1).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly timeToFirstToken: Histogram[];
  private readonly timePerOutputToken: Histogram[];
  private readonly interTokenLatency: Histogram[];
  private readonly e2eLatency: Histogram[];
  private readonly queueTime: Histogram[];
  private readonly prefillTime: Histogram[];
  private readonly decodeTime: Histogram[];
  private readonly promptTokensPerRequest: Histogram[];
  private readonly generationTokensPerRequest: Histogram[];
  private readonly numPromptTokens: Counter[];
  private readonly numGenerationTokens: Counter[];
  private readonly numRequestSuccesses: Counter<'finished_reason'>[];

  constructor(engine: ServingEngine, modelName: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model_name: modelName });
    const histograms = (name: string, help: string, ours: number[], vllm: number[]): Histogram[] => [
      new Histogram({ name: `${PREFIX}${name}`, help, buckets: ours, registers }),
      new Histogram({ name: `${VLLM}${name}`, help, buckets: vllm, registers }),
    ];
    const counters = (name: string, help: string): Counter[] => [PREFIX, VLLM].map((p) => new Counter({ name: `${p}${name}`, help, registers }));
    const tokenBuckets = buckets125(engine.contextSize);

    this.timeToFirstToken = histograms('time_to_first_token_seconds', 'Seconds from request arrival to the first generated token', TTFT_BUCKETS, TTFT_BUCKETS);
    this.timePerOutputToken = histograms(
      'time_per_output_token_seconds',
      'Mean seconds per generated token after the first, per request',
      OUR_TOKEN_LATENCY_BUCKETS,
      TOKEN_LATENCY_BUCKETS,
    );
    this.interTokenLatency = histograms('inter_token_latency_seconds', 'Seconds between consecutive generated tokens', OUR_TOKEN_LATENCY_BUCKETS, TOKEN_LATENCY_BUCKETS);
    this.e2eLatency = histograms('e2e_request_latency_seconds', 'Seconds from request arrival to the end of its generation', OUR_REQUEST_LATENCY_BUCKETS, REQUEST_LATENCY_BUCKETS);
    this.queueTime = histograms('request_queue_time_seconds', 'Seconds a request waited in the engine before its first step', OUR_REQUEST_LATENCY_BUCKETS, REQUEST_LATENCY_BUCKETS);
    this.prefillTime = histograms('request_prefill_time_seconds', 'Seconds from a request\'s first step to its first token', OUR_REQUEST_LATENCY_BUCKETS, REQUEST_LATENCY_BUCKETS);
    this.decodeTime = histograms('request_decode_time_seconds', 'Seconds from a request\'s first token to its end', OUR_REQUEST_LATENCY_BUCKETS, REQUEST_LATENCY_BUCKETS);
    this.promptTokensPerRequest = histograms('request_prompt_tokens', 'Prompt tokens per finished request', tokenBuckets, tokenBuckets);
    this.generationTokensPerRequest = histograms('request_generation_tokens', 'Generated tokens per finished request', tokenBuckets, tokenBuckets);
    this.numPromptTokens = counters('prompt_tokens_total', 'Prompt tokens processed');
    this.numGenerationTokens = counters('generation_tokens_total', 'Tokens generated');
    this.numRequestSuccesses = [PREFIX, VLLM].map(
      (p) => new Counter({ name: `${p}request_success_total`, help: 'Finished generations by finish reason', labelNames: ['finished_reason'], registers }),
    );

    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    for (const p of [PREFIX, VLLM]) {
      gauge(`${p}num_requests_waiting`, 'Requests waiting to be scheduled', () => engine.stats().numWaiting);
      gauge(`${p}num_requests_running`, 'Requests being generated', () => engine.stats().numRunning);
    }
    gauge(`${PREFIX}kv_cache_usage_ratio`, 'Fraction of KV cache blocks in use (0..1)', () => engine.stats().kvCacheUsage);
    gauge(`${VLLM}kv_cache_usage_perc`, 'Fraction of KV cache blocks in use (0..1; 1 = 100%)', () => engine.stats().kvCacheUsage);
    // the engine keeps these totals; a scrape copies them into counters
    const engineCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    engineCounter(`${PREFIX}prefix_cache_queries_total`, 'Prompt tokens looked up in the prefix cache', () => engine.stats().numPrefixCacheQueryTokens);
    engineCounter(`${PREFIX}prefix_cache_hits_total`, 'Prompt tokens found in the prefix cache', () => engine.stats().numPrefixCacheHitTokens);
    engineCounter(`${VLLM}prefix_cache_queries_total`, 'Prompt tokens looked up in the prefix cache', () => engine.stats().numPrefixCacheQueryTokens);
    engineCounter(`${VLLM}prefix_cache_hits_total`, 'Prompt tokens found in the prefix cache', () => engine.stats().numPrefixCacheHitTokens);
    for (const p of [PREFIX, VLLM]) {
      engineCounter(`${p}num_preemptions_total`, 'Requests preempted for lack of KV cache', () => engine.stats().numPreemptions);
    }
  }

  observeFirstToken(seconds: number): void {
    for (const h of this.timeToFirstToken) h.observe(seconds);
  }

  /** The time between two consecutive tokens of one generation. */
  observeInterToken(seconds: number): void {
    for (const h of this.interTokenLatency) h.observe(seconds);
  }

  /** One finished generation: its token counts, latency and phases. */
  observeFinished(g: FinishedGeneration): void {
    for (const c of this.numRequestSuccesses) c.inc({ finished_reason: g.reason });
    for (const c of this.numPromptTokens) c.inc(g.numPromptTokens);
    for (const c of this.numGenerationTokens) c.inc(g.numGeneratedTokens);
    for (const h of this.promptTokensPerRequest) h.observe(g.numPromptTokens);
    for (const h of this.generationTokensPerRequest) h.observe(g.numGeneratedTokens);
    for (const h of this.e2eLatency) h.observe(g.e2eSeconds);
    if (g.numGeneratedTokens > 1) {
      for (const h of this.timePerOutputToken) h.observe(g.decodeSeconds / (g.numGeneratedTokens - 1));
    }
    if (g.timings) {
      for (const h of this.queueTime) h.observe(g.timings.queueMs / 1000);
      for (const h of this.prefillTime) h.observe(g.timings.prefillMs / 1000);
      for (const h of this.decodeTime) h.observe(g.timings.decodeMs / 1000);
    }
  }
}
