import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../engine/loaded-model.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import type { ParallelPlan } from '../parallel/parallel-executor.js';
import { MODEL_SHAPE_NAMES, type ModelShapeName } from '../testing/model-shapes.js';
import { writeSyntheticModel, type SyntheticWeightType } from '../testing/synthetic-model.js';
import { InvalidRequestError } from '../errors/engine-error.js';
import { openLlamaCppPeer, peregrineTarget } from './engines.js';
import type { RateSearchResult } from './rate-search.js';
import {
  appendHistory,
  compareEngines,
  comparisonFigures,
  configurationSummary,
  createReport,
  shortName,
  toComparisonTable,
  toConfigurationTable,
  toMarkdownTable,
} from './report.js';
import { runScenarios, type EngineRun, type ProgressBar, type ScenarioPlan } from './run-scenarios.js';
import { renderDistributionChart, renderLineChart } from './svg-plot.js';
import type { LengthDistribution } from './workload.js';

/** The scenarios' plan (less the vocabulary, read from the model) and what to run them on. */
export interface BenchmarkOptions extends Omit<ScenarioPlan, 'vocabSize'> {
  /** a GGUF path, or a named shape written with seeded weights (cached) */
  readonly model: string;
  /** weight type for a named shape */
  readonly weightType: SyntheticWeightType;
  /** Peregrine's kernel threads (each worker's, with a parallel plan) */
  readonly threads: number;
  /** Peregrine's model on tensorParallel × pipelineParallel workers, or undefined for one process; llama.cpp gets threads × the workers */
  readonly parallel: ParallelPlan | undefined;
  /** Peregrine's Q8_0 / Q4_0 / Q4_K batch arithmetic (LoadModelOptions.matmulPrecision) */
  readonly matmulPrecision: MatmulPrecision;
  /** both engines' KV cache element type (llama.cpp has no fp8 cache: it keeps f16 then, and the report says so) */
  readonly kvCacheType: KvCacheType;
  /** sequences for Offline and Server (SingleStream runs each engine with one) */
  readonly maxNumSeqs: number;
  readonly hasPeer: boolean;
  readonly outDir: string;
  /** BENCHMARKS.md to append to, or undefined */
  readonly historyPath: string | undefined;
}

/** Where the benchmarks keep the synthetic models they write: `$XDG_CACHE_HOME/peregrine/models`, else `~/.cache/peregrine/models`. */
export function benchModelCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'peregrine', 'models');
}

/** A named shape becomes a cached synthetic GGUF; anything else is a path. */
export function resolveBenchModel(model: string, weightType: SyntheticWeightType, log: (line: string) => void): string {
  if (!(MODEL_SHAPE_NAMES as readonly string[]).includes(model)) {
    if (!existsSync(model)) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `--model: no file ${model} and no shape of that name (shapes: ${MODEL_SHAPE_NAMES.join(', ')})`);
    }
    return model;
  }
  const dir = benchModelCacheDir();
  const path = join(dir, `${model}-${weightType}.gguf`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    log(`writing ${path} (seeded synthetic weights) ...`);
    writeSyntheticModel(path, { shape: model as ModelShapeName, weightType, seed: 1, contextLength: 4096 });
  }
  return path;
}

function progress(label: string): ProgressBar {
  let isLineOpen = false;
  return {
    onProgress(done, total) {
      const width = 24;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\r  ${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
      isLineOpen = done !== total;
      if (!isLineOpen) process.stderr.write('\n');
    },
    end(note) {
      if (isLineOpen) process.stderr.write(` ${note}\n`);
      else process.stderr.write(`  ${label.padEnd(28)} ${note}\n`);
      isLineOpen = false;
    },
  };
}

/** the bracket the search left: " (3.00 failed; 4 trials, 2 stopped early)" */
function searchNote(search: RateSearchResult): string {
  const numStopped = search.trials.filter((t) => t.isStoppedEarly).length;
  const failed = search.lowestInvalidRatePerSecond === null ? 'none failed' : `${search.lowestInvalidRatePerSecond.toFixed(2)} failed`;
  return ` (${failed}; ${search.trials.length} trials${numStopped > 0 ? `, ${numStopped} stopped early` : ''})`;
}

/** "tensor-parallel 2 × pipeline-parallel 2 (4 workers, shared-memory)" */
export function describePlan(plan: ParallelPlan): string {
  return `tensor-parallel ${plan.tensorParallel} × pipeline-parallel ${plan.pipelineParallel} (${plan.tensorParallel * plan.pipelineParallel} workers, ${plan.transport})`;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Runs SingleStream, Offline and the Server rate search on Peregrine and (when installed) llama.cpp; writes JSON, Markdown and SVG. */
export async function runBenchmark(o: BenchmarkOptions): Promise<string> {
  const modelPath = resolveBenchModel(o.model, o.weightType, o.log);
  const maxLen = (d: LengthDistribution): number => (d.kind === 'fixed' ? d.value : d.max);
  const contextSize = maxLen(o.inputLength) + maxLen(o.outputLength) + 8;
  const model = await loadModel(modelPath, {
    contextSize,
    backend: 'auto',
    threads: o.threads,
    matmulPrecision: o.matmulPrecision,
    kvCacheType: o.kvCacheType,
    tensorParallel: o.parallel?.tensorParallel,
    pipelineParallel: o.parallel?.pipelineParallel,
    parallelTransport: o.parallel?.transport,
  });
  const plan = { ...o, vocabSize: model.config.vocabSize, progress };
  const numWorkers = o.parallel === undefined ? 1 : o.parallel.tensorParallel * o.parallel.pipelineParallel;
  // the peer gets the cores Peregrine's workers use together
  const targetOptions = { threads: o.threads * numWorkers, maxNumSeqs: o.maxNumSeqs, contextSize, kvCacheType: o.kvCacheType };
  const runs: EngineRun[] = [];
  const ourTarget = peregrineTarget(model, { ...targetOptions, threads: o.threads, matmulPrecision: o.matmulPrecision, maxQueueLength: Math.max(256, o.numServer, o.numOffline) });
  try {
    runs.push(await runScenarios(ourTarget, plan));
  } finally {
    await ourTarget.dispose();
  }
  if (o.hasPeer) {
    if (process.env.UV_THREADPOOL_SIZE !== '1') o.log('llama.cpp runs best with UV_THREADPOOL_SIZE=1 set before Node starts (the report records the value)');
    const peer = await openLlamaCppPeer(modelPath, targetOptions);
    if (typeof peer === 'string') o.log(`peer skipped: ${peer}`);
    else {
      try {
        runs.push(await runScenarios(peer, plan));
      } finally {
        await peer.dispose();
      }
    }
  }

  const date = new Date();
  const commit = gitCommit();
  const stamp = date.toISOString().replace(/[:.]/g, '-');
  const dir = join(o.outDir, stamp);
  mkdirSync(dir, { recursive: true });
  const settings = { minServerSeconds: o.minServerSeconds, numServerRequests: o.numServer, maxServerTrials: o.maxServerTrials, canStopEarly: o.canStopEarly, threads: o.threads, parallel: o.parallel ?? null, maxNumSeqs: o.maxNumSeqs, inputLength: o.inputLength, outputLength: o.outputLength, constraints: o.constraints, seed: o.seed };
  const modelName = `${o.model}${o.model === modelPath ? '' : ` ${o.weightType}`}`;
  writeFileSync(
    join(dir, 'report.json'),
    JSON.stringify(runs.map((r) => createReport({ date, commit, engine: r.name, model: modelName, settings, results: r.results, rateSearch: r.rateSearch, configurations: r.configs })), null, 2) + '\n',
  );
  const [ours, peer] = runs as [EngineRun, EngineRun | undefined];
  const comparison = compareEngines(ours, peer);
  const comparisonTable = toComparisonTable(comparison, { ours: ours.name, peer: peer?.name ?? 'llama.cpp' });
  const tables = runs.map((r) => `### ${r.name}\n\n${toMarkdownTable(r.results)}\n\nServer: highest rate meeting TTFT p99 ≤ ${o.constraints.ttftP99Ms} ms and TPOT p99 ≤ ${o.constraints.tpotP99Ms} ms: ${r.rateSearch.bestRatePerSecond?.toFixed(2) ?? 'none'} req/s${searchNote(r.rateSearch)}`);
  const configurationTable = `### Configurations\n\n${toConfigurationTable(runs)}`;
  const title = `${modelName}, ${o.parallel === undefined ? `${o.threads} threads` : `${describePlan(o.parallel)}, ${o.threads} threads per worker`}`;
  const markdown = `## ${title} (${date.toISOString().slice(0, 10)}, ${commit})\n\n### ${shortName(ours.name)} vs ${peer ? shortName(peer.name) : 'llama.cpp (skipped)'}\n\n${comparisonTable}\n${configurationTable}\n${tables.join('\n\n')}\n`;
  writeFileSync(join(dir, 'report.md'), markdown);
  writeFileSync(
    join(dir, 'throughput-latency.svg'),
    renderLineChart({
      title: 'Server scenario: throughput against TTFT p99',
      xLabel: 'output tokens/s',
      yLabel: 'TTFT p99 (ms)',
      series: runs.map((r) => ({
        name: r.name,
        // a trial that stopped early measured only part of its load: no point for it
        points: r.serverTrials
          .filter((t) => !t.stoppedEarly)
          .sort((a, b) => a.ratePerSecond! - b.ratePerSecond!)
          .map((t) => ({ x: t.outputTokensPerSecond, y: t.ttftMs.p99 })),
      })),
    }),
  );
  const offlineOf = (r: EngineRun) => r.results.find((x) => x.scenario === 'offline')!;
  for (const [metric, label] of [['ttftMs', 'TTFT'], ['tpotMs', 'time per output token']] as const) {
    writeFileSync(
      join(dir, `${metric === 'ttftMs' ? 'ttft' : 'tpot'}-distribution.svg`),
      renderDistributionChart({
        title: `Offline scenario: ${label} distribution`,
        xLabel: `${label} (ms)`,
        yLabel: 'fraction of requests',
        kind: 'cdf',
        series: runs.map((r) => ({ name: r.name, values: offlineOf(r).requests.map((q) => q[metric]).filter(Number.isFinite) })),
      }),
    );
  }
  if (o.historyPath) {
    const figures: Record<string, string> = {
      engines: peer ? `${ours.name} vs ${peer.name} (ratio > 1 = ${shortName(ours.name)} better)` : `${ours.name} (peer skipped)`,
      ...comparisonFigures(comparison, peer !== undefined),
      configuration: configurationSummary(runs),
      details: dir,
    };
    await appendHistory(o.historyPath, { date, commit, title, figures });
  }
  o.log(`wrote ${dir}/{report.json,report.md,*.svg}`);
  return markdown;
}
