import { EngineError } from '../errors/engine-error.js';
import type { Measurer } from './measurer.js';
import type { PlanConfig } from './plan-config.js';
import type { GateResult, PlanRow } from './plan-row.js';

/**
 * Measures every config whose format is admitted (`gateOf` gives undefined for the reference, or
 * a passed gate) in order, one at a time; a format that missed its gate is not measured. A config
 * that fails with an EngineError (a TP degree the model's heads do not divide, a load the memory
 * does not allow) gets a row saying why, and the sweep goes on; any other error is a bug and ends it.
 */
export async function measureConfigs(
  configs: readonly PlanConfig[],
  gateOf: (config: PlanConfig) => GateResult | undefined,
  measurer: Measurer,
  onRow?: (row: PlanRow, index: number, numConfigs: number) => void,
): Promise<PlanRow[]> {
  const rows: PlanRow[] = [];
  for (const [i, config] of configs.entries()) {
    const gate = gateOf(config);
    let row: PlanRow;
    if (gate !== undefined && !gate.isPassed) {
      row = { config, gate, measurement: undefined, failure: `missed the ${gate.name} gate` };
    } else {
      try {
        row = { config, gate, measurement: await measurer.measure(config), failure: undefined };
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        row = { config, gate, measurement: undefined, failure: e.message };
      }
    }
    rows.push(row);
    onRow?.(row, i, configs.length);
  }
  return rows;
}
