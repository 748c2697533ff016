import type { DivergenceStatistics } from './divergence-statistics.js';

/** The llama.cpp formats an anchor is quantized to (the reference in that format, by Peregrine's llama.cpp-identical quantizer). */
export type AnchorFormat = 'Q8_0' | 'Q4_0' | 'Q4_K';

/**
 * A format's accuracy gate (issue 18): the model, evaluated against the reference on a text,
 * must do at least as well as `anchor` (the reference quantized to that llama.cpp format) on the
 * same text: a mean KL divergence no higher, and where `isSameTopGated`, a "same top token" rate no
 * lower.
 */
export interface AccuracyGate {
  readonly name: string;
  readonly anchor: AnchorFormat;
  readonly isSameTopGated: boolean;
  /** one line for --help and the report */
  readonly description: string;
}

/** The default gates, by name (as `--gate` takes them). */
export const ACCURACY_GATES: readonly AccuracyGate[] = [
  { name: 'fp8', anchor: 'Q8_0', isSameTopGated: true, description: "FP8 weights: mean KLD and same-top rate at least as good as Q8_0's" },
  { name: 'q8_0', anchor: 'Q8_0', isSameTopGated: true, description: "Q8_0 weights: mean KLD and same-top rate at least as good as llama.cpp's Q8_0" },
  { name: 'mxfp4', anchor: 'Q4_0', isSameTopGated: false, description: "MXFP4 weights: mean KLD at most Q4_0's" },
  { name: 'nvfp4', anchor: 'Q4_0', isSameTopGated: false, description: "NVFP4 weights: mean KLD at most Q4_0's" },
  { name: 'q4_0', anchor: 'Q4_0', isSameTopGated: false, description: "Q4_0 weights: mean KLD at most llama.cpp's Q4_0" },
  { name: 'calibrated-4bit', anchor: 'Q4_K', isSameTopGated: false, description: "calibrated 4-bit weights: mean KLD at most Q4_K's" },
];

export function findGate(name: string): AccuracyGate | undefined {
  return ACCURACY_GATES.find((g) => g.name === name.toLowerCase());
}

/** One compared figure: the model's, the anchor's bound, and whether the model is on the right side of it. */
export interface GateCheck {
  readonly metric: 'mean KLD' | 'same top';
  readonly value: number;
  readonly bound: number;
  /** 'max': value ≤ bound; 'min': value ≥ bound */
  readonly kind: 'max' | 'min';
  readonly isPassed: boolean;
}

export interface GateOutcome {
  readonly gate: AccuracyGate;
  readonly checks: readonly GateCheck[];
  readonly isPassed: boolean;
}

/**
 * The gate's verdict, with no slack: model and anchor are scored on the same tokens against the
 * same reference log-probabilities in the same run, so the comparison is exact for that text (the
 * uncertainties llama.cpp prints are about the text as a sample of language, which the gate does
 * not claim to generalize over; a looser bound would pass formats that measurably do worse).
 */
export function checkGate(gate: AccuracyGate, model: DivergenceStatistics, anchor: DivergenceStatistics): GateOutcome {
  const checks: GateCheck[] = [at('mean KLD', model.kld.mean.value, anchor.kld.mean.value, 'max')];
  if (gate.isSameTopGated) checks.push(at('same top', model.sameTop.value, anchor.sameTop.value, 'min'));
  return { gate, checks, isPassed: checks.every((c) => c.isPassed) };
}

function at(metric: GateCheck['metric'], value: number, bound: number, kind: GateCheck['kind']): GateCheck {
  return { metric, value, bound, kind, isPassed: kind === 'max' ? value <= bound : value >= bound };
}
