import { isAdmitted, isWithinBudget, type LatencyBudget, type PlanRow } from './plan-row.js';

const HEADER = ['', 'TP', 'PP', 'threads', 'batch', 'format', 'KV', 'TTFT ms', 'TPOT ms', 'tok/s', 'gate', 'within budget'];

/**
 * The sweep as a Markdown table, one row per config in sweep order: the chosen row marked `*`,
 * TTFT and TPOT as medians, the gate's verdict ('reference' for --model itself), and whether the
 * row is within the budget; a config without a measurement says why in the last column.
 */
export function formatPlanTable(rows: readonly PlanRow[], budget: LatencyBudget, chosen: PlanRow | undefined): string {
  const lines = rows.map((row) => {
    const c = row.config;
    const m = row.measurement;
    const gate = row.gate === undefined ? 'reference' : `${row.gate.name} ${row.gate.isPassed ? 'passed' : 'missed'}`;
    const verdict = m === undefined ? `not measured: ${row.failure ?? 'unknown'}` : !isAdmitted(row) ? 'no (gate)' : isWithinBudget(m, budget) ? 'yes' : 'no';
    return [
      row === chosen ? '*' : '',
      String(c.tensorParallel),
      String(c.pipelineParallel),
      String(c.threadsPerWorker),
      String(c.maxNumSeqs),
      c.format,
      c.kvCacheType,
      m ? m.ttftMs.toFixed(1) : '-',
      m ? m.tpotMs.toFixed(1) : '-',
      m ? m.tokensPerSecond.toFixed(1) : '-',
      gate,
      verdict,
    ];
  });
  return [HEADER, HEADER.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
