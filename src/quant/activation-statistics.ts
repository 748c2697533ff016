/**
 * Activation statistics for calibration (issue 18), collected as llama.cpp's llama-imatrix
 * collects them: the model runs over a text in windows of its context, and for every matrix it
 * multiplies by, each input column's Σx² (its mean is the imatrix statistic) and Σ|x| are summed
 * over the rows (tokens) it saw; a strided sample of the rows is kept for AWQ's scale search.
 *
 * The hook is a backend decorator: the model runs unchanged on a KernelBackend whose matmul,
 * matmulSwiglu and matmulGeglu first read their input and record it under the weight's name
 * (the name the model uploaded it under: a file tensor's, or a stacked one's such as
 * blk.N.attn_qkv.weight, see matrixInputName).
 */
import { loadModel } from '../engine/loaded-model.js';
import { InvalidRequestError } from '../errors/engine-error.js';
import { evalWindows } from '../eval/eval-windows.js';
import type { DeviceBuffer, KernelBackend, WeightHandle } from '../kernels/kernel-backend.js';
import { geluF32 } from '../kernels/reference/gelu.js';
import { selectBackend, type BackendChoice } from '../kernels/select-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';

/** One matrix's input, over every row it was given. */
export interface ActivationStatistics {
  readonly numCols: number;
  /** [numCols] Σ x² */
  readonly sumSquares: Float64Array;
  /** [numCols] Σ |x| */
  readonly sumAbs: Float64Array;
  numRows: number;
  /** sampled rows, each [numCols] */
  readonly samples: Float32Array[];
}

/** mean x² per column: llama.cpp's imatrix values */
export function meanSquares(stats: ActivationStatistics): Float32Array {
  return Float32Array.from(stats.sumSquares, (s) => s / Math.max(1, stats.numRows));
}

/** mean |x| per column: AWQ's activation scale */
export function meanAbs(stats: ActivationStatistics): Float32Array {
  return Float32Array.from(stats.sumAbs, (s) => s / Math.max(1, stats.numRows));
}

/**
 * The name a file tensor's input was recorded under: its own, or that of the stacked matrix the
 * model multiplies instead (q, k and v of the same type are one matmul, blk.N.attn_qkv.weight;
 * gate and up, blk.N.ffn_gate_up.weight), whose input is the same.
 */
export function matrixInputName(tensorName: string, recorded: ReadonlyMap<string, ActivationStatistics>): string | undefined {
  if (recorded.has(tensorName)) return tensorName;
  const stacked = tensorName.replace(/\.attn_[qkv]\.weight$/, '.attn_qkv.weight').replace(/\.ffn_(gate|up)\.weight$/, '.ffn_gate_up.weight');
  return recorded.has(stacked) ? stacked : undefined;
}

/** Records matmul inputs by weight name; `backend` is the decorated backend to run the model on. */
export class ActivationRecorder {
  readonly statistics = new Map<string, ActivationStatistics>();
  readonly backend: KernelBackend;

  /** every `sampleStride`-th row a matrix sees is kept, up to `maxSamples` rows (set it before the model runs) */
  sampleStride = 1;

  constructor(
    private readonly inner: KernelBackend,
    private readonly maxSamples: number,
  ) {
    const record = (w: WeightHandle, x: DeviceBuffer, numTokens: number, glu?: 'silu' | 'gelu'): void => this.record(w, x, numTokens, glu);
    this.backend = new Proxy(inner, {
      get(target, key, receiver) {
        if (key === 'matmul') {
          return (out: DeviceBuffer, w: WeightHandle, x: DeviceBuffer, numTokens: number) => {
            record(w, x, numTokens);
            target.matmul(out, w, x, numTokens);
          };
        }
        if (key === 'matmulSwiglu' || key === 'matmulGeglu') {
          return (out: DeviceBuffer, w: WeightHandle, gateUp: DeviceBuffer, numTokens: number) => {
            record(w, gateUp, numTokens, key === 'matmulSwiglu' ? 'silu' : 'gelu');
            target[key](out, w, gateUp, numTokens);
          };
        }
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** x: [numTokens, numCols], or with `glu` [numTokens, 2 · numCols] gate then up, whose glu(gate) · up the matrix multiplies */
  private record(w: WeightHandle, x: DeviceBuffer, numTokens: number, glu?: 'silu' | 'gelu'): void {
    const n = w.numCols;
    let stats = this.statistics.get(w.name);
    if (!stats) {
      stats = { numCols: n, sumSquares: new Float64Array(n), sumAbs: new Float64Array(n), numRows: 0, samples: [] };
      this.statistics.set(w.name, stats);
    }
    const values = this.inner.read(x);
    const rowLength = glu ? 2 * n : n;
    const row = new Float32Array(n);
    for (let t = 0; t < numTokens; t++) {
      const at = t * rowLength;
      for (let c = 0; c < n; c++) {
        const g = values[at + c]!;
        row[c] = glu ? (glu === 'silu' ? g / (1 + Math.exp(-g)) : geluF32(g)) * values[at + n + c]! : g;
      }
      for (let c = 0; c < n; c++) {
        stats.sumSquares[c]! += row[c]! * row[c]!;
        stats.sumAbs[c]! += Math.abs(row[c]!);
      }
      if (stats.numRows % this.sampleStride === 0 && stats.samples.length < this.maxSamples) stats.samples.push(row.slice());
      stats.numRows++;
    }
  }
}

export interface CollectOptions {
  /** tokens per window (default 512, or the model's context when smaller; llama-imatrix's -c) */
  readonly windowTokens?: number;
  /** rows kept per matrix for AWQ's search (default 128) */
  readonly maxSampleRows?: number;
  readonly backend?: BackendChoice;
  readonly threads?: number;
  /** for a Hugging Face directory without tokenizer.json: where its vocabulary comes from (LoadModelOptions) */
  readonly tokenizer?: string;
  /** after each window: windows done, windows in all */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface CollectedStatistics {
  readonly statistics: ReadonlyMap<string, ActivationStatistics>;
  readonly numTokens: number;
  readonly numWindows: number;
}

const DEFAULT_WINDOW_TOKENS = 512;
const DEFAULT_SAMPLE_ROWS = 128;

/**
 * Runs the model at `modelPath` over `text` (tokenized with BOS where its vocabulary adds one) in
 * windows of `windowTokens` from an empty KV cache, each starting with BOS (as llama-imatrix's
 * chunks; a text shorter than a window is one window), and returns every matrix's input statistics.
 * Throws InvalidRequestError 'TEXT_TOO_SHORT' for a text of fewer than 2 tokens.
 */
export async function collectActivationStatistics(modelPath: string, text: string, options: CollectOptions = {}): Promise<CollectedStatistics> {
  using inner = selectBackend(options.backend ?? 'auto', { threads: options.threads });
  const maxSamples = options.maxSampleRows ?? DEFAULT_SAMPLE_ROWS;
  const recorder = new ActivationRecorder(inner, maxSamples);
  using model = await loadModel(modelPath, { backend: recorder.backend, ...(options.tokenizer !== undefined && { tokenizer: options.tokenizer }) });
  const windowTokens = Math.min(options.windowTokens ?? DEFAULT_WINDOW_TOKENS, model.contextSize);
  const tokenIds = model.tokenize(text, { addSpecial: true, parseSpecial: false });
  const bosId = model.tokenizer.addBos ? model.tokenizer.bosId : undefined;
  if (tokenIds.length < 2) throw new InvalidRequestError('TEXT_TOO_SHORT', `the calibration text is ${tokenIds.length} token(s); it needs at least 2`);
  const windows = tokenIds.length < windowTokens ? [{ tokenIds }] : evalWindows(tokenIds, windowTokens, bosId);
  const numTokens = windows.reduce((sum, w) => sum + w.tokenIds.length, 0);
  recorder.sampleStride = Math.max(1, Math.floor(numTokens / maxSamples));
  for (const [i, window] of windows.entries()) {
    options.signal?.throwIfAborted();
    model.checkTokens(window.tokenIds);
    evaluateLogits(model.network, window.tokenIds, model.kvCacheType, window.tokenIds.length - 1); // logits of the last token only
    options.onProgress?.(i + 1, windows.length);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { statistics: recorder.statistics, numTokens, numWindows: windows.length };
}
