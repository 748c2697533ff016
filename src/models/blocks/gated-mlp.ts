import type { DeviceBuffer, KernelBackend, WeightHandle, WeightTensor } from '../../kernels/kernel-backend.js';
import type { Activation, ModelConfig } from '../model-config.js';
import type { WeightLoader } from '../weight-loader.js';
import type { Workspace } from '../workspace.js';
import { FusedLinear } from './fused-linear.js';
import { shardColumns, shardRows, type TensorShard } from './tensor-shard.js';

/** GGUF names of one layer's MLP weights */
export interface GatedMlpWeightNames {
  readonly gate: string;
  readonly up: string;
  /** the stacked gate and up */
  readonly gateUp: string;
  readonly down: string;
}

/** The gated MLP: down · (act(gate · x) ⊙ (up · x)), act SiLU (SwiGLU) or GELU's tanh form (GeGLU, Gemma). */
export class GatedMlp {
  constructor(
    private readonly backend: KernelBackend,
    private readonly ws: Workspace,
    private readonly ffnSize: number,
    /** down's output width */
    private readonly hiddenSize: number,
    /** gate and up rows: [ffnSize, ffnSize] × hiddenSize */
    private readonly gateUp: FusedLinear,
    /** [hiddenSize, ffnSize] */
    private readonly down: WeightHandle,
    private readonly activation: Activation = 'silu',
    /** down's per-tensor output scale (WeightLoader.outputScale) */
    private readonly downScale?: number,
  ) {}

  /**
   * With `shard`, this worker's ffnSize / worldSize features (their gate and up rows, the same
   * columns of down): forward's output is then a partial sum, which the caller all-reduces.
   */
  static load(w: WeightLoader, ws: Workspace, c: ModelConfig, names: GatedMlpWeightNames, shard?: TensorShard): GatedMlp {
    const split = shard && ((part: WeightTensor) => shardRows(part, shard));
    const gateUp = FusedLinear.load(w, ws, names.gateUp, [[names.gate, c.ffnSize], [names.up, c.ffnSize]], c.hiddenSize, split);
    const down = w.matrix(names.down, c.hiddenSize, c.ffnSize);
    const ffnSize = shard ? c.ffnSize / shard.worldSize : c.ffnSize;
    return new GatedMlp(ws.backend, ws, ffnSize, c.hiddenSize, gateUp, w.upload(ws, shard ? shardColumns(down, shard) : down), c.activation ?? 'silu', w.outputScale(names.down));
  }

  /** the weights forward multiplies by, in call order */
  get matmulWeights(): WeightHandle[] {
    return [...this.gateUp.weights, this.down];
  }

  /** out: [numTokens, hiddenSize]; xn: [numTokens, hiddenSize] the normed input */
  forward(out: DeviceBuffer, xn: DeviceBuffer, numTokens: number): void {
    const gateUp = this.ws.get('gateUp', numTokens * 2 * this.ffnSize); // [n, 2 ffnSize] each row gate, then up
    this.gateUp.forwardConcat(gateUp, xn, numTokens);
    if (this.activation === 'gelu') this.backend.matmulGeglu(out, this.down, gateUp, numTokens);
    else this.backend.matmulSwiglu(out, this.down, gateUp, numTokens);
    if (this.downScale !== undefined) this.backend.scale(out, numTokens * this.hiddenSize, this.downScale);
  }
}
