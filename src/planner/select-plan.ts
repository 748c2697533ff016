import { numWorkers } from './plan-config.js';
import { describeBudget, describeConfig, isAdmitted, isWithinBudget, type LatencyBudget, type PlanRow } from './plan-row.js';

/** The planner's verdict: the chosen row, or why there is none and the row that came closest. */
export type PlanChoice =
  | { readonly kind: 'chosen'; readonly row: PlanRow }
  | { readonly kind: 'none'; readonly closest: PlanRow | undefined; readonly message: string };

/**
 * The admitted (reference or gate passed), measured row with the most tokens/s whose median TTFT
 * and TPOT are within the budget (bounds inclusive). Ties go to fewer workers, then the lower TPOT,
 * then the earlier row. When no row fits, the closest is the admitted, measured row whose worse
 * latency is the smallest multiple of its bound.
 */
export function selectPlan(rows: readonly PlanRow[], budget: LatencyBudget): PlanChoice {
  const measured = rows.filter((r) => isAdmitted(r) && r.measurement !== undefined);
  let best: PlanRow | undefined;
  for (const row of measured) {
    if (!isWithinBudget(row.measurement!, budget)) continue;
    if (best === undefined || isBetter(row, best)) best = row;
  }
  if (best) return { kind: 'chosen', row: best };
  if (measured.length === 0) {
    return { kind: 'none', closest: undefined, message: 'no configuration could be measured with an admitted format (see the table for why)' };
  }
  const closest = measured.reduce((a, b) => (overBudget(b, budget) < overBudget(a, budget) ? b : a));
  const m = closest.measurement!;
  return {
    kind: 'none',
    closest,
    message:
      `no configuration meets ${describeBudget(budget)}; the closest is ${describeConfig(closest.config)}: ` +
      `TTFT ${m.ttftMs.toFixed(1)} ms, TPOT ${m.tpotMs.toFixed(1)} ms (${overBudget(closest, budget).toFixed(2)}x its bound)`,
  };
}

function isBetter(a: PlanRow, b: PlanRow): boolean {
  const [ma, mb] = [a.measurement!, b.measurement!];
  if (ma.tokensPerSecond !== mb.tokensPerSecond) return ma.tokensPerSecond > mb.tokensPerSecond;
  if (numWorkers(a.config) !== numWorkers(b.config)) return numWorkers(a.config) < numWorkers(b.config);
  return ma.tpotMs < mb.tpotMs;
}

/** The larger of TTFT / its bound and TPOT / its bound (an absent bound counts as met). */
function overBudget(row: PlanRow, budget: LatencyBudget): number {
  const m = row.measurement!;
  return Math.max(budget.maxTtftMs !== undefined ? m.ttftMs / budget.maxTtftMs : 0, budget.maxTpotMs !== undefined ? m.tpotMs / budget.maxTpotMs : 0);
}
