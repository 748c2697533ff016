import type { GateOutcome } from './accuracy-gates.js';
import { DELTA_P_QUANTILES, KLD_QUANTILES, type DivergenceStatistics, type Estimate } from './divergence-statistics.js';

/**
 * The statistics as `llama-perplexity --kl-divergence` prints them at its end (same sections,
 * labels and precision; probabilities in %), so the two outputs can be read side by side.
 */
export function formatStatistics(s: DivergenceStatistics): string {
  const pm = (e: Estimate) => `${fixed(e.value, 6, 10)} ± ${fixed(e.uncertainty, 6, 10)}`;
  const pct = (e: Estimate) => `${fixed(100 * e.value, 3, 6)} ± ${fixed(100 * e.uncertainty, 3, 5)} %`;
  const quantileLabel = (label: string, fraction: number, what: string) =>
    label === 'max' ? `Maximum ${what}` : label === 'min' ? `Minimum ${what}` : label === 'median' ? `Median  ${what}` : `${(100 * fraction).toFixed(1).padStart(4)}%   ${what}`;
  return [
    '====== Perplexity statistics ======',
    `Mean PPL(Q)                   : ${pm(s.ppl)}`,
    `Mean PPL(base)                : ${pm(s.pplReference)}`,
    `Cor(ln(PPL(Q)), ln(PPL(base))): ${s.pplCorrelation === null ? 'n/a (10 tokens or fewer)' : `${fixed(100 * s.pplCorrelation, 2, 6)}%`}`,
    `Mean ln(PPL(Q)/PPL(base))     : ${pm(s.lnPplRatio)}`,
    `Mean PPL(Q)/PPL(base)         : ${pm(s.pplRatio)}`,
    `Mean PPL(Q)-PPL(base)         : ${pm(s.pplDifference)}`,
    '',
    '====== KL divergence statistics ======',
    `Mean    KLD: ${pm(s.kld.mean)}`,
    ...KLD_QUANTILES.map(([label, fraction]) => `${quantileLabel(label, fraction, 'KLD')}: ${fixed(s.kld.quantiles[label]!, 6, 10)}`),
    '',
    '====== Token probability statistics ======',
    `Mean    Δp: ${pct(s.deltaP.mean)}`,
    ...DELTA_P_QUANTILES.map(([label, fraction]) => `${quantileLabel(label, fraction, 'Δp')}: ${fixed(100 * s.deltaP.quantiles[label]!, 3, 6)}%`),
    `RMS Δp    : ${pct(s.deltaP.rms)}`,
    `Same top p: ${pct(s.sameTop)}`,
  ].join('\n');
}

/** The gate, its anchor's figures beside the model's, and the verdict. */
export function formatGate(outcome: GateOutcome, anchorDescription: string, anchor: DivergenceStatistics): string {
  const show = (metric: string, x: number) => (metric === 'same top' ? `${(100 * x).toFixed(3)}%` : fixed(x, 6));
  return [
    `====== Gate ${outcome.gate.name}: ${outcome.gate.description} ======`,
    `anchor: ${anchorDescription}`,
    `anchor figures: mean KLD ${fixed(anchor.kld.mean.value, 6)} ± ${fixed(anchor.kld.mean.uncertainty, 6)}, same top ${(100 * anchor.sameTop.value).toFixed(3)}%, ` +
      `PPL ratio ${fixed(anchor.pplRatio.value, 6)}`,
    ...outcome.checks.map(
      (c) => `${c.metric.padEnd(9)}: ${show(c.metric, c.value)} ${c.kind === 'max' ? '<=' : '>='} ${show(c.metric, c.bound)} (anchor)  ${c.isPassed ? 'pass' : 'MISSED'}`,
    ),
    'slack: none (model and anchor are scored on the same tokens against the same reference log-probabilities)',
    `gate ${outcome.gate.name}: ${outcome.isPassed ? 'PASSED' : 'MISSED'}`,
  ].join('\n');
}

/** printf's %W.Df: `digits` decimals, padded on the left to `width` */
function fixed(x: number, digits: number, width = 0): string {
  return (Number.isFinite(x) ? x.toFixed(digits) : String(x)).padStart(width);
}
