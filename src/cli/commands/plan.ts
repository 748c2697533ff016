import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { untrustedPath } from '../../errors/untrusted-text.js';
import { ACCURACY_GATES } from '../../eval/accuracy-gates.js';
import { MIN_CONTEXT_SIZE } from '../../eval/eval-windows.js';
import type { KvCacheType } from '../../kernels/kernel-backend.js';
import { TRANSPORT_KINDS } from '../../parallel/transport.js';
import { DEFAULT_BATCH_SIZES, enumerateCandidates, KV_CACHE_TYPES, type WeightCandidate } from '../../planner/candidate-space.js';
import { DEFAULT_GATE_WINDOW_TOKENS, gateForFormat, gateFormats, type GatedWeights } from '../../planner/format-gate.js';
import { measureConfigs } from '../../planner/measure-configs.js';
import { toPlanFile, writePlanFile } from '../../planner/plan-file.js';
import { describeBudget, describeConfig, type GateResult, type LatencyBudget, type PlanRow } from '../../planner/plan-row.js';
import { formatPlanTable } from '../../planner/plan-table.js';
import { sampleReferenceText } from '../../planner/reference-sample-text.js';
import { selectPlan } from '../../planner/select-plan.js';
import { ServingMeasurer } from '../../planner/serving-measurer.js';
import { resolveQuantFormat } from '../../quant/quant-format.js';
import { BACKEND_FLAG, backendFlag, choiceFlag, defineCommand, numberFlag, parseCommandArgs, positiveIntegerFlag } from '../args.js';
import type { ProgressStream } from '../progress-bar.js';
import { gateFlag, quantizeWithProgress, requiredFile } from './eval.js';

/** Exit status when no configuration fits the budget (the table is still printed; no --output is written). */
export const NO_PLAN_EXIT_STATUS = 3;

export const PLAN_COMMAND = defineCommand({
  name: 'plan',
  synopsis: '--model PATH [--max-ttft-ms A] [--max-tpot-ms B] [--formats F,..] [options]',
  summary:
    'Runs short measured sweeps over tensor parallelism, pipeline parallelism (TP x PP workers within the cores, the cores ' +
    'shared equally among them), batch size, weight format and KV cache type, and prints every configuration with its median ' +
    'TTFT, median TPOT and total tokens/s, then the one with the most tokens/s within the budget. A weight format other than ' +
    "--model's own is admitted only when it passes its accuracy gate (as `peregrine eval --gate`) against --model on --text. " +
    `Exits with ${NO_PLAN_EXIT_STATUS} when nothing fits, naming the closest. --output saves the choice for \`peregrine serve --plan\`. ` +
    'Progress goes to stderr.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'the GGUF model: a candidate itself, and the reference the other formats are gated against' },
    'max-ttft-ms': { type: 'string', arg: 'MS', help: 'bound on the median time to first token', default: 'none' },
    'max-tpot-ms': { type: 'string', arg: 'MS', help: 'bound on the median time per output token after the first', default: 'none' },
    formats: { type: 'string', arg: 'F,..', help: 'weight formats to try, made from --model by `peregrine quantize` into --cache-dir (e.g. Q8_0,Q4_0)' },
    candidates: { type: 'string', arg: 'FILE,..', help: 'other GGUF files of the same model to try (e.g. made by llama-quantize); each must pass --gate' },
    gate: {
      type: 'string',
      arg: 'NAME',
      help: `the accuracy gate for every format and candidate: ${ACCURACY_GATES.map((g) => g.name).join(', ')}`,
      default: "for --formats, the gate of the format's name",
    },
    text: { type: 'string', arg: 'FILE', help: 'the UTF-8 text the gates score on', default: "three samples of --model's own writing, seeds 0 to 2" },
    'gate-context': { type: 'string', arg: 'N', help: 'gate window length in tokens', default: `${DEFAULT_GATE_WINDOW_TOKENS}, or the models' context if smaller` },
    'tensor-parallel': { type: 'string', arg: 'N,..', help: 'tensor-parallel degrees to try', default: 'powers of two up to the cores' },
    'pipeline-parallel': { type: 'string', arg: 'N,..', help: 'pipeline-parallel degrees to try', default: 'powers of two up to the cores' },
    'parallel-transport': { type: 'string', arg: 'KIND', help: `how workers exchange activations: ${TRANSPORT_KINDS.join(' or ')}`, default: 'shared-memory' },
    'batch-sizes': { type: 'string', arg: 'N,..', help: 'concurrent requests to try, as serve --max-num-seqs', default: DEFAULT_BATCH_SIZES.join(',') },
    'kv-cache-types': { type: 'string', arg: 'T,..', help: `KV cache element types to try: ${KV_CACHE_TYPES.join(', ')}`, default: 'all' },
    'prompt-tokens': { type: 'string', arg: 'N', help: "each measured request's prompt length", default: '64' },
    'output-tokens': { type: 'string', arg: 'N', help: 'tokens each measured request generates', default: '32' },
    'cache-dir': { type: 'string', arg: 'DIR', help: 'where --formats files are written and reused', default: '$XDG_CACHE_HOME/peregrine/plan, else ~/.cache/peregrine/plan' },
    output: { type: 'string', arg: 'FILE', help: 'write the choice as JSON for `peregrine serve --plan FILE`' },
    backend: BACKEND_FLAG,
  },
});

export async function runPlan(argv: string[], out: NodeJS.WritableStream, err: ProgressStream): Promise<number> {
  const { values } = parseCommandArgs(argv, PLAN_COMMAND);
  // every flag and file is checked before anything loads
  const modelPath = requiredFile(values.model, '--model');
  const budget: LatencyBudget = { maxTtftMs: positiveNumberFlag(values['max-ttft-ms'], '--max-ttft-ms'), maxTpotMs: positiveNumberFlag(values['max-tpot-ms'], '--max-tpot-ms') };
  const formats = listFlag(values.formats).map((f) => resolveQuantFormat(f).name);
  const candidatePaths = listFlag(values.candidates).map((p) => requiredFile(p, '--candidates'));
  const gate = gateFlag(values.gate);
  const textPath = values.text === undefined ? undefined : requiredFile(values.text, '--text');
  const gateContext = positiveIntegerFlag(values['gate-context'], '--gate-context');
  if (gateContext !== undefined && gateContext < MIN_CONTEXT_SIZE) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--gate-context must be at least ${MIN_CONTEXT_SIZE} (got ${gateContext})`);
  }
  const parallelTransport = choiceFlag(values['parallel-transport'], '--parallel-transport', TRANSPORT_KINDS) ?? 'shared-memory';
  const kvCacheTypes = values['kv-cache-types'] === undefined ? undefined : listFlag(values['kv-cache-types']).map((t) => choiceFlag(t, '--kv-cache-types', KV_CACHE_TYPES) as KvCacheType);
  const backend = backendFlag(values.backend);
  const promptTokens = positiveIntegerFlag(values['prompt-tokens'], '--prompt-tokens') ?? 64;
  const outputTokens = positiveIntegerFlag(values['output-tokens'], '--output-tokens') ?? 32;
  const formatFiles: WeightCandidate[] = formats.map((format) => ({ path: formatPath(values['cache-dir'], modelPath, format), format }));
  const gated: GatedWeights[] = [
    ...candidatePaths.map((path) => ({ weights: { path, format: basename(path).replace(/\.gguf$/i, '') }, gate: gate ?? needGate(`--candidates ${untrustedPath(path)}`) })),
    ...formatFiles.map((weights) => ({ weights, gate: gate ?? gateForFormat(weights.format) ?? needGate(`--formats ${weights.format}`) })),
  ];
  const reference: WeightCandidate = { path: modelPath, format: basename(modelPath).replace(/\.gguf$/i, '') };
  const configs = enumerateCandidates({
    weights: [reference, ...gated.map((g) => g.weights)],
    numCores: availableParallelism(),
    tensorParallel: degreesFlag(values['tensor-parallel'], '--tensor-parallel'),
    pipelineParallel: degreesFlag(values['pipeline-parallel'], '--pipeline-parallel'),
    batchSizes: degreesFlag(values['batch-sizes'], '--batch-sizes'),
    kvCacheTypes,
  });
  const log = (line: string) => err.write(`peregrine plan: ${line}\n`);

  const quantize = quantizeWithProgress(err, 'plan', 'a candidate format');
  for (const { path, format } of formatFiles) {
    if (existsSync(path)) continue; // made by an earlier run (quantizeModelFile writes a temporary file and renames it)
    mkdirSync(dirname(path), { recursive: true });
    await quantize(modelPath, path, format);
  }
  const gateResults = new Map<string, GateResult>();
  if (gated.length > 0) {
    const loadOptions = { backend };
    let text: string;
    if (textPath !== undefined) text = readFileSync(textPath, 'utf8');
    else {
      log('sampling the default gate text from --model');
      text = await sampleReferenceText(modelPath, gateContext ?? DEFAULT_GATE_WINDOW_TOKENS, loadOptions);
    }
    const results = await gateFormats(gated, {
      referencePath: modelPath,
      text,
      windowTokens: gateContext,
      loadOptions,
      quantizeAnchor: quantizeWithProgress(err, 'plan', 'the anchor'),
      onProgress: (anchor, done, total) => log(`gates against ${anchor}: window ${done}/${total}`),
    });
    for (const [i, g] of gated.entries()) {
      gateResults.set(g.weights.path, results[i]!);
      log(`${g.weights.format}: gate ${results[i]!.name} ${results[i]!.isPassed ? 'passed' : 'MISSED'}: ${results[i]!.summary}`);
    }
  }

  const measurer = new ServingMeasurer({ promptTokens, outputTokens, parallelTransport, backend, log });
  let rows: PlanRow[];
  try {
    rows = await measureConfigs(configs, (c) => gateResults.get(c.modelPath), measurer, (row, i, n) => {
      const m = row.measurement;
      const result = m ? `TTFT ${m.ttftMs.toFixed(1)} ms, TPOT ${m.tpotMs.toFixed(1)} ms, ${m.tokensPerSecond.toFixed(1)} tok/s` : `not measured: ${row.failure}`;
      log(`[${i + 1}/${n}] ${describeConfig(row.config)}: ${result}`);
    });
  } finally {
    await measurer.close();
  }

  const choice = selectPlan(rows, budget);
  out.write(`${formatPlanTable(rows, budget, choice.kind === 'chosen' ? choice.row : undefined)}\n\n`);
  out.write(`budget: ${describeBudget(budget)}; ${promptTokens}-token prompts, ${outputTokens} output tokens per request; transport ${parallelTransport}\n`);
  if (choice.kind === 'none') {
    out.write(`${choice.message}\n`);
    if (values.output !== undefined) log(`${untrustedPath(values.output)} not written: there is no choice`);
    return NO_PLAN_EXIT_STATUS;
  }
  const m = choice.row.measurement!;
  out.write(`choice: ${describeConfig(choice.row.config)}: ${m.tokensPerSecond.toFixed(1)} tok/s, TTFT ${m.ttftMs.toFixed(1)} ms, TPOT ${m.tpotMs.toFixed(1)} ms\n`);
  if (values.output !== undefined) {
    writePlanFile(values.output, toPlanFile(choice.row.config, parallelTransport, m, budget));
    log(`wrote ${untrustedPath(values.output)} (peregrine serve --plan ${untrustedPath(values.output)})`);
  }
  return 0;
}

/**
 * Where --formats puts `format` made from `modelPath`: the cache folder, under a name holding a
 * hash of the model's absolute path, size and modification time, so a changed or another model
 * of the same name is quantized afresh.
 */
function formatPath(cacheDir: string | undefined, modelPath: string, format: string): string {
  const dir = cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'peregrine', 'plan');
  const stat = statSync(modelPath);
  const hash = createHash('sha256').update(`${resolve(modelPath)}\0${stat.size}\0${stat.mtimeMs}`).digest('hex').slice(0, 12);
  return join(dir, `${basename(modelPath).replace(/\.gguf$/i, '')}-${hash}-${format}.gguf`);
}

function needGate(what: string): never {
  throw new InvalidRequestError('INVALID_ARGUMENT', `${what} has no accuracy gate of its name: give one with --gate (${ACCURACY_GATES.map((g) => g.name).join(', ')})`);
}

/** "a,b" → ['a', 'b'] (blanks dropped); absent → [] */
function listFlag(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** "1,2" → [1, 2], each a positive integer; absent → undefined (the planner's default) */
function degreesFlag(value: string | undefined, flag: string): number[] | undefined {
  if (value === undefined) return undefined;
  const degrees = listFlag(value).map((v) => positiveIntegerFlag(v, flag)!);
  if (degrees.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} needs at least one value`);
  return degrees;
}

function positiveNumberFlag(value: string | undefined, flag: string): number | undefined {
  const n = numberFlag(value, flag);
  if (n !== undefined && !(n > 0)) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be above 0 (got ${n})`);
  return n;
}
