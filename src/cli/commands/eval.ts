import { existsSync, readFileSync, statSync } from 'node:fs';
import { loadModel } from '../../engine/loaded-model.js';
import type { Model } from '../../engine/model.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { stringifyForTerminal, untrustedPath } from '../../errors/untrusted-text.js';
import { ACCURACY_GATES, checkGate, findGate, type AccuracyGate } from '../../eval/accuracy-gates.js';
import { withAnchorFile, type AnchorQuantizer } from '../../eval/anchor-file.js';
import type { DivergenceStatistics } from '../../eval/divergence-statistics.js';
import { evaluateAgainstReference, type EvalResult } from '../../eval/evaluate-against-reference.js';
import { MIN_CONTEXT_SIZE } from '../../eval/eval-windows.js';
import { formatGate, formatStatistics } from '../../eval/format-statistics.js';
import { quantizeModelFile } from '../../quant/quantize-model.js';
import { BACKEND_FLAG, backendFlag, defineCommand, parseCommandArgs, positiveIntegerFlag, THREADS_FLAG, threadsFlag } from '../args.js';
import { ProgressBar, type ProgressStream } from '../progress-bar.js';

/** llama-perplexity's default context (its `n_ctx = 512`), lowered to a model's own when that is smaller. */
const DEFAULT_WINDOW_TOKENS = 512;

/** Exit status when the model misses its gate (2 is bad input, 1 a bad model file). */
export const GATE_MISSED_EXIT_STATUS = 3;

export const EVAL_COMMAND = defineCommand({
  name: 'eval',
  synopsis: '--model Q --reference REF --text FILE [--context N] [--json] [--gate NAME]',
  summary:
    "Compares a model with its reference on a text as llama.cpp's `llama-perplexity --kl-divergence` does: both " +
    'perplexities and their ratio, the KL divergence (mean, median, percentiles), the "same top token" rate and Δp, ' +
    'over the second half of each window of --context tokens. --gate checks the model against the reference ' +
    `quantized to an anchor format on the same text and exits with ${GATE_MISSED_EXIT_STATUS} when it misses.`,
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'the GGUF model to score (e.g. a quantized file)' },
    reference: { type: 'string', arg: 'PATH', help: 'the GGUF reference (e.g. the F32/F16/BF16 file it was made from); same vocabulary' },
    text: { type: 'string', arg: 'FILE', help: 'a UTF-8 text file; it must fill at least one window' },
    context: { type: 'string', arg: 'N', help: 'window length in tokens', default: "512, or the models' context if smaller" },
    json: { type: 'boolean', help: 'print the result as JSON on stdout (the progress still goes to stderr)' },
    gate: { type: 'string', arg: 'NAME', help: `accuracy gate: ${ACCURACY_GATES.map((g) => g.name).join(', ')}` },
    threads: THREADS_FLAG,
    backend: BACKEND_FLAG,
  },
});

export interface EvalCommandDeps {
  /** makes a gate's anchor file (default: Peregrine's quantizer, with a progress bar on `err`) */
  readonly quantizeAnchor?: AnchorQuantizer;
}

export async function runEval(argv: string[], out: NodeJS.WritableStream, err: ProgressStream, deps: EvalCommandDeps = {}): Promise<number> {
  const quantizeAnchor = deps.quantizeAnchor ?? quantizeWithProgress(err);
  const { values } = parseCommandArgs(argv, EVAL_COMMAND);
  // every flag and file is checked before a model loads
  const modelPath = requiredFile(values.model, '--model');
  const referencePath = requiredFile(values.reference, '--reference');
  const textPath = requiredFile(values.text, '--text');
  const contextSize = positiveIntegerFlag(values.context, '--context');
  if (contextSize !== undefined && contextSize < MIN_CONTEXT_SIZE) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--context must be at least ${MIN_CONTEXT_SIZE} (got ${contextSize})`);
  }
  const gate = gateFlag(values.gate);
  const loadOptions = { contextSize, threads: threadsFlag(values.threads), backend: backendFlag(values.backend) };
  const text = readFileSync(textPath, 'utf8');

  using reference = await loadModel(referencePath, loadOptions);
  using model = await loadModel(modelPath, loadOptions);
  const windowTokens = contextSize ?? Math.min(DEFAULT_WINDOW_TOKENS, reference.contextSize, model.contextSize);
  const evaluate = async (models: Model[]): Promise<EvalResult> => {
    const bar = new ProgressBar(err, 'peregrine eval');
    const startMs = performance.now();
    try {
      const result = await evaluateAgainstReference(reference, models, text, {
        contextSize: windowTokens,
        onProgress: (done, total) => bar.update(done, total, `${done}/${total} windows`),
      });
      bar.finish();
      err.write(`peregrine eval: ${result.numWindows} windows of ${windowTokens} tokens, ${models.length} model(s) and the reference, in ${((performance.now() - startMs) / 1000).toFixed(1)} s\n`);
      return result;
    } finally {
      bar.finish();
    }
  };
  const paths = { model: modelPath, reference: referencePath, text: textPath };

  if (!gate) {
    const result = await evaluate([model]);
    out.write(values.json ? stringifyForTerminal(report(paths, result, result.statistics[0]!), 2) + '\n' : textReport(paths, result) + '\n');
    return 0;
  }
  // awaited: `using` disposes the models when this function returns
  return await withAnchorFile(referencePath, gate.anchor, quantizeAnchor, async (anchorPath) => {
    using anchor = await loadModel(anchorPath, loadOptions);
    const result = await evaluate([model, anchor]);
    const [modelStats, anchorStats] = result.statistics as [DivergenceStatistics, DivergenceStatistics];
    const outcome = checkGate(gate, modelStats, anchorStats);
    const anchorDescription =
      `the reference quantized to ${gate.anchor}${gate.anchor === 'Q4_K' ? " (llama-quantize's Q4_K_M mix)" : ''} by Peregrine's quantizer ` +
      `(llama-quantize's tensor types and bits), scored on the same windows`;
    if (values.json) {
      const gateReport = { name: gate.name, description: gate.description, anchor: { format: gate.anchor, statistics: anchorStats }, checks: outcome.checks, slack: 0, passed: outcome.isPassed };
      out.write(stringifyForTerminal({ ...report(paths, result, modelStats), gate: gateReport }, 2) + '\n');
    } else {
      out.write(`${textReport(paths, result)}\n\n${formatGate(outcome, anchorDescription, anchorStats)}\n`);
    }
    return outcome.isPassed ? 0 : GATE_MISSED_EXIT_STATUS;
  });
}

/**
 * quantizeModelFile with llama-quantize's name for the format, its progress as a bar on `err`
 * (`peregrine plan` makes its anchors, and its --formats files, with it too)
 */
export function quantizeWithProgress(err: ProgressStream, command = 'eval', what = 'the anchor'): (inputPath: string, outputPath: string, format: string) => Promise<void> {
  return async (inputPath, outputPath, format) => {
    const bar = new ProgressBar(err, `peregrine ${command}: quantizing the reference to ${format} (${what})`);
    try {
      const report = await quantizeModelFile(inputPath, outputPath, { format, onProgress: (done, total, tensorName) => bar.update(done, total, tensorName) });
      bar.finish();
      err.write(`peregrine ${command}: ${what}: the reference quantized to ${report.format} (${report.tensors.length} tensors, ${report.outputBytes} bytes)\n`);
    } finally {
      bar.finish();
    }
  };
}

function report(paths: { model: string; reference: string; text: string }, r: EvalResult, statistics: DivergenceStatistics) {
  return { ...paths, numTextTokens: r.numTextTokens, contextSize: r.contextSize, numWindows: r.numWindows, statistics };
}

function textReport(paths: { model: string; reference: string; text: string }, r: EvalResult): string {
  const s = r.statistics[0]!;
  return [
    `model: ${untrustedPath(paths.model)}`,
    `reference: ${untrustedPath(paths.reference)}`,
    `text: ${untrustedPath(paths.text)}: ${r.numTextTokens} tokens, ${r.numWindows} windows of ${r.contextSize}, ${s.numTokens} tokens scored (the second half of each window)`,
    ...(s.numTokens < 100 ? ['(llama.cpp prints no final statistics below 100 scored tokens; these rest on few tokens)'] : []),
    '',
    formatStatistics(s),
  ].join('\n');
}

/** A flag naming an existing regular file; InvalidRequestError naming the flag otherwise. */
export function requiredFile(value: string | undefined, flag: string): string {
  if (value === undefined) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} is required`);
  if (!existsSync(value)) throw new InvalidRequestError('FILE_NOT_FOUND', `${flag}: file not found: ${untrustedPath(value)}`);
  if (!statSync(value).isFile()) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag}: not a regular file: ${untrustedPath(value)}`);
  return value;
}

export function gateFlag(value: string | undefined): AccuracyGate | undefined {
  if (value === undefined) return undefined;
  const gate = findGate(value);
  if (!gate) throw new InvalidRequestError('INVALID_ARGUMENT', `--gate must be one of ${ACCURACY_GATES.map((g) => g.name).join(', ')} (got '${value}')`);
  return gate;
}
