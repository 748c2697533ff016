/**
 * Calibration for the 4-bit formats (issue 18), as Model Optimizer's AWQ and llama.cpp's imatrix
 * do it: activation statistics from a text (activation-statistics.ts) decide
 *
 * - AWQ-style scales, for Q4_0, Q4_K and NVFP4 (SCALED_TYPES): where a norm feeds only q/k/v
 *   (attn_norm) or gate/up (ffn_norm), each input channel c gets s_c = mean|x_c|^α (normalized by √(max·min)); the matrices' columns are
 *   multiplied by s and the norm's weight divided by it, which leaves the model's function as it is
 *   but makes the channels that carry large activations larger in the weights, so rounding costs
 *   them less. α is searched on a grid of 11 points in [0, 1] for the least squared error of the
 *   quantized matrices' outputs on sampled calibration rows (α = 0 is no scaling, so the chosen
 *   scales never do worse on those rows);
 * - importance-weighted rounding (importance-quantizers.ts) of every matrix whose type has a weighted
 *   quantizer (Q4_0, Q4_K, MXFP4, NVFP4; Q5_0 and Q6_K, which a Q4_K_M file holds too; Q5_K), with
 *   importance = the mean x² of its input columns (divided by s² where scaled). Other types quantize
 *   as without calibration (scaled where their norm's group is).
 */
import { MetadataReader, readTensorData, type GgufFile, type GgufTensorInfo } from '../formats/gguf/index.js';
import { GgmlType } from '../formats/ggml-type.js';
import { codecFor } from './codec.js';
import { collectActivationStatistics, matrixInputName, meanAbs, meanSquares, type ActivationStatistics, type CollectOptions } from './activation-statistics.js';
import { importanceQuantizer } from './importance-quantizers.js';

/** What calibration changes in one tensor before it is quantized. */
export interface TensorCalibration {
  /** [numCols] each row's columns are multiplied by these (AWQ's s) */
  readonly columnScales?: Float32Array;
  /** [numCols] column importance for the weighted quantizer; set only where the tensor's type has one */
  readonly importance?: Float32Array;
  /** the tensor's new values, f32 (a norm's weight divided by s) */
  readonly values?: Float32Array;
}

/** One norm and the matrices it feeds, scaled together. */
export interface ScaledGroup {
  readonly norm: string;
  readonly matrices: readonly string[];
  /** the exponent chosen; 0: left unscaled */
  readonly alpha: number;
  /** Σ squared output error of the quantized matrices on the sampled rows, unscaled and with the chosen α */
  readonly errorUnscaled: number;
  readonly errorScaled: number;
}

export interface Calibration {
  readonly tensors: ReadonlyMap<string, TensorCalibration>;
  readonly groups: readonly ScaledGroup[];
  readonly numTokens: number;
  readonly numWindows: number;
  /** tensors quantized with importance weights */
  readonly numWeighted: number;
}

/** the 4-bit types: the calibrated-4bit gate holds their calibrated files */
export const CALIBRATED_TYPES: readonly GgmlType[] = [GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.MXFP4, GgmlType.NVFP4];

/**
 * the types whose groups the α search scales (AWQ); the others' rounding is only weighted
 * (importanceQuantizer). Measured on stories260K, mean KLD on held-out text, uncalibrated → weighted
 * only → weighted and scaled:
 * - Q5_0 (Q4_K_M's fallback for rows of 64): 0.0160 → 0.0127 → 0.0146, and likewise on three other
 *   texts: the α search lowered the sampled output errors but not the model's divergence;
 * - MXFP4: 0.122 → 0.121 → 0.164 calibrated on the README's calibration text; on two other
 *   calibration texts, over three held-out texts, scaling did better by 3% to 18% on one and from 11%
 *   better to 5% worse on the other: too unsteady to keep (its power-of-two block scales move in
 *   steps of 2 as the column scales change the blocks' largest values);
 * - Q4_0 and NVFP4: scaling lowered the divergence on most texts (Q4_0 0.0856 → 0.0746 → 0.0655).
 */
const SCALED_TYPES: readonly GgmlType[] = [GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.NVFP4];

/** architectures whose attn_norm feeds only q/k/v and ffn_norm only gate/up (Gemma's norms are offset, Phi-3's matrices fused) */
const SCALABLE_ARCHITECTURES = new Set(['llama', 'qwen2', 'qwen3']);
const ALPHA_GRID = Array.from({ length: 11 }, (_, i) => i / 10);
/** output rows of each matrix that the α search quantizes and multiplies (evenly strided) */
const SEARCH_ROWS = 128;
/** a column never active on the text keeps this fraction of the mean importance, so its block keeps a scale */
const IMPORTANCE_FLOOR = 1e-6;

/**
 * Calibrates the quantization of `file` (at `inputPath`) to the planned types on `text`.
 * `plan`: every tensor's output type, as planTensorTypes gives it.
 */
export async function calibrate(
  inputPath: string, file: GgufFile, plan: readonly { readonly name: string; readonly type: GgmlType }[], text: string, options: CollectOptions = {},
): Promise<Calibration> {
  const { statistics, numTokens, numWindows } = await collectActivationStatistics(inputPath, text, options);
  const types = new Map(plan.map((p) => [p.name, p.type]));
  const infos = new Map(file.tensors.map((t) => [t.name, t]));
  const tensors = new Map<string, TensorCalibration>();
  const groups: ScaledGroup[] = [];
  const scales = new Map<string, Float32Array>();
  for (const group of scalableGroups(file, infos)) {
    const inputName = matrixInputName(group.matrices[0]!, statistics);
    if (!inputName || !group.matrices.some((m) => SCALED_TYPES.includes(types.get(m)!))) continue;
    const found = searchScales(file, group.matrices.map((m) => ({ info: infos.get(m)!, type: types.get(m)! })), statistics.get(inputName)!);
    groups.push({ norm: group.norm, matrices: group.matrices, alpha: found.alpha, errorUnscaled: found.errorUnscaled, errorScaled: found.errorScaled });
    if (found.alpha === 0) continue;
    for (const m of group.matrices) scales.set(m, found.scales);
    const normInfo = infos.get(group.norm)!;
    const norm = readF32(file, normInfo);
    tensors.set(group.norm, { values: norm.map((w, c) => w / found.scales[c]!) });
  }
  let numWeighted = 0;
  for (const p of plan) {
    const inputName = matrixInputName(p.name, statistics);
    const columnScales = scales.get(p.name);
    const hasQuantizer = importanceQuantizer(p.type) !== undefined && infos.get(p.name)!.type !== p.type;
    if (!inputName || (!hasQuantizer && !columnScales)) continue;
    const importance = hasQuantizer ? importanceOf(statistics.get(inputName)!, columnScales) : undefined;
    if (importance) numWeighted++;
    tensors.set(p.name, { ...(columnScales && { columnScales }), ...(importance && { importance }) });
  }
  return { tensors, groups, numTokens, numWindows, numWeighted };
}

/** mean x² per column, of the scaled input x/s where scaled, with a floor for columns never active */
function importanceOf(stats: ActivationStatistics, columnScales: Float32Array | undefined): Float32Array {
  const imp = meanSquares(stats);
  if (columnScales) for (let c = 0; c < imp.length; c++) imp[c] = imp[c]! / (columnScales[c]! * columnScales[c]!);
  const floor = (imp.reduce((a, b) => a + b, 0) / imp.length) * IMPORTANCE_FLOOR;
  return imp.map((v) => Math.max(v, floor));
}

/** the norms that feed only q/k/v or only gate/up, with those matrices, layer by layer */
function scalableGroups(file: GgufFile, infos: ReadonlyMap<string, GgufTensorInfo>): { norm: string; matrices: string[] }[] {
  const architecture = new MetadataReader(file.metadata, file.path).string('general.architecture');
  if (!SCALABLE_ARCHITECTURES.has(architecture)) return [];
  const groups: { norm: string; matrices: string[] }[] = [];
  for (let i = 0; infos.has(`blk.${i}.attn_norm.weight`); i++) {
    const blk = `blk.${i}`;
    const candidates = [
      { norm: `${blk}.attn_norm.weight`, matrices: ['attn_q', 'attn_k', 'attn_v'].map((m) => `${blk}.${m}.weight`) },
      { norm: `${blk}.ffn_norm.weight`, matrices: ['ffn_gate', 'ffn_up'].map((m) => `${blk}.${m}.weight`) },
    ];
    const isMoe = infos.has(`${blk}.ffn_gate_inp.weight`); // the router reads ffn_norm's output too
    for (const g of candidates) {
      if (infos.has(g.norm) && g.matrices.every((m) => infos.has(m)) && !(isMoe && g.norm.endsWith('ffn_norm.weight'))) groups.push(g);
    }
  }
  return groups;
}

function readF32(file: GgufFile, info: GgufTensorInfo): Float32Array {
  const bytes = readTensorData(file, [info]).get(info.name)!;
  const out = new Float32Array(info.numElements);
  codecFor(info.type)!.dequantize(bytes, 0, info.numElements, out);
  return out;
}

/** `type`'s round trip of rows of numCols values, importance-weighted where the type has a weighted quantizer */
function roundTrip(type: GgmlType, w: Float32Array, numCols: number, importance: Float32Array): Float32Array {
  const codec = codecFor(type)!;
  const bytes = importanceQuantizer(type)?.(w, numCols, importance) ?? codec.quantize(w);
  const out = new Float32Array(w.length);
  codec.dequantize(bytes, 0, w.length, out);
  return out;
}

/**
 * AWQ's grid search for one group: for each α, s = meanAbs^α / √(max·min), each matrix's sampled
 * rows scaled, quantized to its type and multiplied by the sampled inputs divided by s; the α
 * with the least squared error against the unquantized outputs wins (α = 0 on a tie).
 */
function searchScales(
  file: GgufFile, matrices: readonly { info: GgufTensorInfo; type: GgmlType }[], stats: ActivationStatistics,
): { alpha: number; scales: Float32Array; errorUnscaled: number; errorScaled: number } {
  const n = stats.numCols;
  const x = stats.samples; // [numSamples][n]
  const act = meanAbs(stats).map((v) => Math.max(v, 1e-8));
  const importance = meanSquares(stats);
  // each matrix's sampled rows [numRows, n] and their exact outputs on the samples [numSamples, numRows]
  const parts = matrices.map(({ info, type }) => {
    const all = readF32(file, info);
    const numRows = info.numElements / n;
    const stride = Math.max(1, Math.floor(numRows / SEARCH_ROWS));
    const rows = Array.from({ length: Math.min(numRows, SEARCH_ROWS) }, (_, i) => i * stride);
    const w = new Float32Array(rows.length * n);
    rows.forEach((r, i) => w.set(all.subarray(r * n, (r + 1) * n), i * n));
    return { type, w, numRows: rows.length, exact: matmulRows(x, w, rows.length, n) };
  });
  let best = { alpha: 0, scales: new Float32Array(n).fill(1), error: Infinity };
  let errorUnscaled = 0;
  for (const alpha of ALPHA_GRID) {
    const s = act.map((a) => a ** alpha);
    let max = 0;
    let min = Infinity;
    for (const v of s) {
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    const norm = Math.sqrt(max * min);
    for (let c = 0; c < n; c++) s[c] = s[c]! / norm;
    const scaledImportance = importance.map((v, c) => v / (s[c]! * s[c]!));
    let error = 0;
    for (const part of parts) {
      const scaled = new Float32Array(part.w.length);
      for (let i = 0; i < scaled.length; i++) scaled[i] = part.w[i]! * s[i % n]!;
      const q = roundTrip(part.type, scaled, n, scaledImportance);
      for (let i = 0; i < q.length; i++) q[i] = q[i]! / s[i % n]!; // (x / s) · q = x · (q / s)
      const out = matmulRows(x, q, part.numRows, n);
      for (let i = 0; i < out.length; i++) error += (out[i]! - part.exact[i]!) ** 2;
    }
    if (alpha === 0) errorUnscaled = error;
    if (error < best.error) best = { alpha, scales: s, error };
  }
  return { alpha: best.alpha, scales: best.scales, errorUnscaled, errorScaled: best.error };
}

/** x · wᵀ: [x.length, numRows] from rows x[t] ([n]) and w ([numRows, n]) */
function matmulRows(x: readonly Float32Array[], w: Float32Array, numRows: number, n: number): Float64Array {
  const out = new Float64Array(x.length * numRows);
  for (let t = 0; t < x.length; t++) {
    const row = x[t]!;
    for (let r = 0; r < numRows; r++) {
      let sum = 0;
      for (let c = 0, o = r * n; c < n; c++) sum += row[c]! * w[o + c]!;
      out[t * numRows + r] = sum;
    }
  }
  return out;
}
