/** The benchmark harness: workloads, arrivals, scenario runners, rate search, charts and reports. */
export { offlineArrivalTimesMs, poissonArrivalTimesMs } from './arrivals.js';
export { BENCH_SCENARIOS, numSequencesFor, type BenchScenario, type BenchTarget, type EngineConfig, type ScenarioEngine } from './bench-target.js';
export { FakeClock, systemClock, type BenchClock } from './clock.js';
export { mean, percentile, summarize, type Summary } from './percentiles.js';
export { searchMaxRate, type RateSearchOptions, type RateSearchResult, type RateTrial } from './rate-search.js';
export {
  appendHistory,
  createReport,
  toConfigurationTable,
  toMarkdownTable,
  type BenchmarkReport,
  type HistoryEntry,
} from './report.js';
export { runScenarios, type EngineRun, type ScenarioPlan } from './run-scenarios.js';
export {
  DEFAULT_CONSTRAINTS,
  runConcurrency,
  runOffline,
  runServer,
  runSingleStream,
  type BenchEngine,
  type LatencyConstraints,
  type RequestResult,
  type ScenarioResult,
} from './scenario.js';
export { renderDistributionChart, renderLineChart, type DistributionSeries, type LineSeries } from './svg-plot.js';
export { createWorkload, type BenchRequest, type LengthDistribution, type WorkloadOptions } from './workload.js';
