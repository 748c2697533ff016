import { ModelLoadError } from '../errors/engine-error.js';
import type { Measurement, Measurer } from './measurer.js';
import type { PlanConfig } from './plan-config.js';

/**
 * A Measurer for tests: each config's measurement from a function of the config (a ModelLoadError
 * where it returns a string), with the configs it was asked for recorded in order.
 */
export class FakeMeasurer implements Measurer {
  readonly measured: PlanConfig[] = [];
  isClosed = false;

  constructor(private readonly measurementOf: (config: PlanConfig) => Measurement | string) {}

  async measure(config: PlanConfig): Promise<Measurement> {
    this.measured.push(config);
    const m = this.measurementOf(config);
    if (typeof m === 'string') throw new ModelLoadError('BAD_TENSOR_SHAPE', m);
    return m;
  }

  async close(): Promise<void> {
    this.isClosed = true;
  }
}
