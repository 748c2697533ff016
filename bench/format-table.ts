/**
 * `npm run bench:formats`' table: per format (and calibrated variant), its bits per weight and size
 * on the synthetic shape, its bits per weight on the evaluated model, the eval's PPL ratio, mean KL
 * divergence and same-top rate against the reference, its gate's verdict with the anchor's bound,
 * and decode / prefill tokens/s on the synthetic shape.
 */
import type { GateOutcome } from '../src/eval/accuracy-gates.js';
import type { Estimate } from '../src/eval/divergence-statistics.js';
import { variantLabel, type AccuracyRow } from './format-accuracy.js';
import type { PlannedSize } from './format-model-files.js';
import type { SpeedMeasurement } from './peregrine-speed.js';

export interface FormatRow {
  readonly accuracy: AccuracyRow;
  /** on the synthetic shape, in the format's types */
  readonly size: PlannedSize;
  /** undefined when not measured */
  readonly speed: SpeedMeasurement | undefined;
}

export function formatFormatsTable(rows: readonly FormatRow[], shapeName: string, evaluatedName: string): string {
  const lines = [
    `| format | bits/weight (${shapeName}) | size (${shapeName}) | bits/weight (${evaluatedName}) | PPL ratio | mean KLD | same top | gate | decode tok/s | prefill tok/s |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const s = r.accuracy.statistics;
      const kept = r.accuracy.keptTensors.length;
      return `| ${[
        variantLabel(r.accuracy.variant) + (kept > 0 ? ` (${kept} tensors kept F32)` : ''),
        r.size.bitsPerWeight.toFixed(2),
        `${(r.size.tensorBytes / 1e6).toFixed(0)} MB`,
        r.accuracy.bitsPerWeight.toFixed(2),
        estimate(s.pplRatio, (x) => x.toFixed(4)),
        estimate(s.kld.mean, (x) => x.toPrecision(3)),
        estimate(s.sameTop, (x) => `${(100 * x).toFixed(2)}`) + '%',
        r.accuracy.gate ? gateCell(r.accuracy.gate.outcome) : '— (no default gate)',
        r.speed ? r.speed.decodeTokensPerSecond.toFixed(2) : '—',
        r.speed ? r.speed.prefillTokensPerSecond.toFixed(2) : '—',
      ].join(' | ')} |`;
    }),
  ];
  const keptNotes = rows.filter((r) => r.accuracy.keptTensors.length > 0).map((r) => `${variantLabel(r.accuracy.variant)}: ${compactNames(r.accuracy.keptTensors)}`);
  if (keptNotes.length > 0) {
    lines.push('', `Kept F32 on ${evaluatedName} (no type the format can write fits their rows): ${keptNotes.join('; ')}.`);
  }
  // a format's file may hold other types where its rows do not fit (llama-quantize's fallbacks): what was scored
  const mixed = rows.filter((r) => r.accuracy.matrixTypes.length > 1);
  if (mixed.length > 0) {
    const mix = (r: FormatRow): string => r.accuracy.matrixTypes.map((t) => `${t.type} ×${t.count}`).join(', ');
    lines.push('', `Matrix types of the ${evaluatedName} files where they are mixed: ${mixed.map((r) => `${variantLabel(r.accuracy.variant)}: ${mix(r)}`).join('; ')}.`);
  }
  return lines.join('\n');
}

/** "pass: q4_0, mean KLD ≤ 0.0855 (Q4_0's)" or "**MISSED**: calibrated-4bit, mean KLD ≤ 0.0163 ✗ (Q4_K's)" */
export function gateCell(outcome: GateOutcome): string {
  const bound = (metric: string, x: number): string => (metric === 'same top' ? `${(100 * x).toFixed(2)}%` : x.toPrecision(3));
  const checks = outcome.checks.map((c) => `${c.metric} ${c.kind === 'max' ? '≤' : '≥'} ${bound(c.metric, c.bound)}${c.isPassed ? '' : ' ✗'}`);
  return `${outcome.isPassed ? 'pass' : '**MISSED**'}: ${outcome.gate.name}, ${checks.join(', ')} (${outcome.gate.anchor}'s)`;
}

function estimate(e: Estimate, show: (x: number) => string): string {
  return `${show(e.value)} ± ${show(e.uncertainty)}`;
}

/** "blk.N.ffn_down.weight (5)" for blk.0.ffn_down.weight … blk.4.ffn_down.weight */
function compactNames(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) {
    const key = n.replace(/^blk\.\d+\./, 'blk.N.');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => (n > 1 ? `${key} (${n})` : key)).join(', ');
}
