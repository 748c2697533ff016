import type { LoadModelOptions } from '../engine/model.js';
import { loadModel } from '../engine/loaded-model.js';
import { checkGate, findGate, type AccuracyGate, type AnchorFormat, type GateOutcome } from '../eval/accuracy-gates.js';
import { withAnchorFile, type AnchorQuantizer } from '../eval/anchor-file.js';
import { evaluateAgainstReference } from '../eval/evaluate-against-reference.js';
import type { WeightCandidate } from './candidate-space.js';
import type { GateResult } from './plan-row.js';

/** llama-perplexity's default window (`n_ctx = 512`), lowered to the models' context when smaller: `peregrine eval`'s default. */
export const DEFAULT_GATE_WINDOW_TOKENS = 512;

/** A weight file and the accuracy gate it must pass to be chosen. */
export interface GatedWeights {
  readonly weights: WeightCandidate;
  readonly gate: AccuracyGate;
}

export interface FormatGateOptions {
  /** the file the formats are compared with (the planner's --model) */
  readonly referencePath: string;
  /** the text they are scored on */
  readonly text: string;
  /** window length in tokens (default: DEFAULT_GATE_WINDOW_TOKENS, or the models' context if smaller) */
  readonly windowTokens?: number;
  /** how the models load for scoring (threads, backend) */
  readonly loadOptions: LoadModelOptions;
  /** makes each gate's anchor: the reference quantized to the anchor format */
  readonly quantizeAnchor: AnchorQuantizer;
  /** after each window of each anchor group */
  readonly onProgress?: (anchor: AnchorFormat, numWindowsDone: number, numWindows: number) => void;
}

/** The gate a quantization format is held to: the gate of its name (FP8_E4M3: fp8), or undefined where there is none. */
export function gateForFormat(format: string): AccuracyGate | undefined {
  return findGate(format.toUpperCase() === 'FP8_E4M3' ? 'fp8' : format);
}

/**
 * `peregrine eval --gate` for each weight file: scored against the reference on the text together
 * with its gate's anchor (the reference quantized to the anchor format), and checked with
 * checkGate. Files whose gates share an anchor are scored in one pass, so the anchor is made and
 * the reference run once per anchor format. Results in the order given.
 */
export async function gateFormats(formats: readonly GatedWeights[], options: FormatGateOptions): Promise<GateResult[]> {
  const results = new Map<GatedWeights, GateResult>();
  const anchors = [...new Set(formats.map((f) => f.gate.anchor))];
  for (const anchor of anchors) {
    const group = formats.filter((f) => f.gate.anchor === anchor);
    await withAnchorFile(options.referencePath, anchor, options.quantizeAnchor, async (anchorPath) => {
      using reference = await loadModel(options.referencePath, options.loadOptions);
      const models = [];
      try {
        for (const f of group) models.push(await loadModel(f.weights.path, options.loadOptions));
        using anchorModel = await loadModel(anchorPath, options.loadOptions);
        const all = [...models, anchorModel];
        const windowTokens = options.windowTokens ?? Math.min(DEFAULT_GATE_WINDOW_TOKENS, ...[reference, ...all].map((m) => m.contextSize));
        const result = await evaluateAgainstReference(reference, all, options.text, {
          contextSize: windowTokens,
          onProgress: (done, total) => options.onProgress?.(anchor, done, total),
        });
        const anchorStats = result.statistics[group.length]!;
        for (const [i, f] of group.entries()) results.set(f, toGateResult(checkGate(f.gate, result.statistics[i]!, anchorStats)));
      } finally {
        for (const m of models) m.dispose();
      }
    });
  }
  return formats.map((f) => results.get(f)!);
}

function toGateResult(outcome: GateOutcome): GateResult {
  const show = (metric: string, x: number) => (metric === 'same top' ? `${(100 * x).toFixed(2)}%` : x.toFixed(6));
  const summary = outcome.checks
    .map((c) => `${c.metric} ${show(c.metric, c.value)} ${c.kind === 'max' ? '<=' : '>='} ${show(c.metric, c.bound)} (${outcome.gate.anchor}) ${c.isPassed ? 'pass' : 'MISSED'}`)
    .join(', ');
  return { name: outcome.gate.name, isPassed: outcome.isPassed, summary };
}
