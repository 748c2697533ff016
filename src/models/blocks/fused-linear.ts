import type { DeviceBuffer, KernelBackend, WeightHandle, WeightTensor } from '../../kernels/kernel-backend.js';
import { sliceRows, stackRows } from '../../parallel/weight-split.js';
import type { Workspace } from '../workspace.js';
import type { WeightLoader } from '../weight-loader.js';

/**
 * Matrices that multiply the same activations (q, k and v; gate and up): stacked into one matrix,
 * so one matmul reads them all, when their types match, else one matmul each. Either way the
 * results are the same numbers; this class hides which.
 */
export class FusedLinear {
  /** rows of each part */
  readonly numRows: readonly number[];
  readonly numCols: number;
  /** [the stacked matrix] or the parts, uploaded for the backend's matmul */
  readonly weights: readonly WeightHandle[];
  /** each weight's output scale (WeightLoader.outputScale: undefined for none) */
  private readonly scales: readonly (number | undefined)[];
  private readonly backend: KernelBackend;

  /**
   * `parts` as loaded (not yet uploaded; uploaded here, into `ws`, by `upload`: the loader's, which
   * reuses a read buffer once the backend has copied it); `stackedName` names the stacked matrix.
   * Or `parts` is one matrix already stacked (a file's fused tensor) and `partRows` gives its parts'
   * rows. `scales`: each part's output scale (one for a stacked file tensor); parts with a scale
   * are not stacked, each output is scaled after its matmul.
   */
  constructor(
    private readonly ws: Workspace,
    stackedName: string,
    parts: readonly WeightTensor[],
    partRows?: readonly number[],
    scales: readonly (number | undefined)[] = [],
    upload: (t: WeightTensor) => WeightHandle = (t) => ws.uploadWeight(t),
  ) {
    this.backend = ws.backend;
    this.numRows = partRows ?? parts.map((p) => p.numRows);
    this.numCols = parts[0]!.numCols;
    const canStack = parts.every((p) => p.type === parts[0]!.type) && parts.every((_, i) => scales[i] === undefined);
    if (parts.length === 1) this.weights = [upload(parts[0]!)];
    else this.weights = canStack ? [upload(stackRows(stackedName, parts))] : parts.map((p) => upload(p));
    this.scales = this.weights.length === parts.length ? parts.map((_, i) => scales[i]) : [undefined];
  }

  /**
   * The file's stacked tensor `stackedName` when it has one (Phi-3's attn_qkv, its ffn_up holding
   * gate and up: used as read, no copy), else the parts, read into one stacked matrix when their
   * types match. `shardPart` (tensor parallelism) replaces each part by this worker's rows of it
   * before stacking; a file's stacked tensor is cut into its parts for that, and this worker's rows
   * of each stacked again (one copy of its share).
   */
  static load(
    w: WeightLoader,
    ws: Workspace,
    stackedName: string,
    parts: readonly (readonly [name: string, numRows: number])[],
    numCols: number,
    shardPart?: (part: WeightTensor) => WeightTensor,
  ): FusedLinear {
    const partRows = parts.map(([, numRows]) => numRows);
    const upload = (t: WeightTensor): WeightHandle => w.upload(ws, t);
    if (w.has(stackedName)) {
      const stacked = w.matrix(stackedName, partRows.reduce((a, b) => a + b, 0), numCols);
      const scale = w.outputScale(stackedName);
      if (!shardPart) return new FusedLinear(ws, stackedName, [stacked], partRows, [scale], upload);
      const shares: WeightTensor[] = []; // this worker's rows of each part
      let first = 0;
      for (const numRows of partRows) {
        shares.push(shardPart(sliceRows(stacked, first, numRows)));
        first += numRows;
      }
      return new FusedLinear(ws, stackedName, [stackRows(stackedName, shares)], shares.map((p) => p.numRows), [scale], upload);
    }
    const scales = parts.map(([name]) => w.outputScale(name));
    if (shardPart) return new FusedLinear(ws, stackedName, parts.map(([name, numRows]) => shardPart(w.matrix(name, numRows, numCols))), undefined, scales, upload);
    // read straight into one buffer when the parts can stack (no per-part copies to concatenate)
    const stacked = scales.every((s) => s === undefined) ? w.stackedMatrix(stackedName, parts, numCols) : undefined;
    if (stacked) return new FusedLinear(ws, stackedName, [stacked], partRows, undefined, upload);
    return new FusedLinear(ws, stackedName, parts.map(([name, numRows]) => w.matrix(name, numRows, numCols)), undefined, scales, upload);
  }

  get isStacked(): boolean {
    return this.weights.length === 1;
  }

  /** out: [numTokens, Σ numRows], each row the parts' outputs side by side (as the stacked matmul gives them) */
  forwardConcat(out: DeviceBuffer, x: DeviceBuffer, numTokens: number): void {
    const width = this.numRows.reduce((a, b) => a + b, 0);
    if (this.isStacked) {
      this.matmul(out, 0, x, numTokens, width);
      return;
    }
    let col = 0;
    this.weights.forEach((_, i) => {
      const numRows = this.numRows[i]!;
      const part = this.ws.get(`fusedPart${i}`, numTokens * numRows); // [numTokens, numRows]
      this.matmul(part, i, x, numTokens, numRows);
      this.backend.copyRows(out, col, width, part, 0, numRows, numTokens, numRows);
      col += numRows;
    });
  }

  /** outs[i]: [numTokens, numRows[i]], part i's output */
  forwardSplit(outs: readonly DeviceBuffer[], x: DeviceBuffer, numTokens: number): void {
    if (!this.isStacked) {
      this.weights.forEach((_, i) => this.matmul(outs[i]!, i, x, numTokens, this.numRows[i]!));
      return;
    }
    const width = this.numRows.reduce((a, b) => a + b, 0);
    const all = this.ws.get('fusedAll', numTokens * width); // [numTokens, Σ numRows]
    this.backend.matmul(all, this.weights[0]!, x, numTokens);
    let col = 0;
    this.numRows.forEach((numRows, i) => {
      this.backend.copyRows(outs[i]!, 0, numRows, all, col, width, numTokens, numRows);
      col += numRows;
    });
  }

  /** out: [numTokens, numRows] = weight i · x, times its output scale */
  private matmul(out: DeviceBuffer, i: number, x: DeviceBuffer, numTokens: number, numRows: number): void {
    this.backend.matmul(out, this.weights[i]!, x, numTokens);
    const s = this.scales[i];
    if (s !== undefined) this.backend.scale(out, numTokens * numRows, s);
  }
}
