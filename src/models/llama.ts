import { ModelLoadError } from '../errors/engine-error.js';
import type { GgufFile } from '../formats/gguf/index.js';
import { MetadataReader } from '../formats/gguf/index.js';
import type { AttentionShape, KernelBackend, RopeParams, WeightTensor } from '../kernels/kernel-backend.js';
import type { KvStorage } from '../kernels/kv-storage.js';
import type { ForwardBatch } from './forward-batch.js';
import { WeightLoader } from './weight-loader.js';
import { Workspace } from './workspace.js';

/** Shapes and hyperparameters of a Llama-family decoder, parsed from GGUF metadata. */
export interface LlamaConfig {
  readonly architecture: string;
  readonly dim: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly ffnDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly rmsEps: number;
  readonly rope: RopeParams;
}

export function parseLlamaConfig(file: GgufFile, arch: string): LlamaConfig {
  const meta = new MetadataReader(file.metadata, file.path);
  const key = (k: string): string => `${arch}.${k}`;
  const dim = meta.number(key('embedding_length'));
  const numHeads = meta.number(key('attention.head_count'));
  const numKvHeads = meta.number(key('attention.head_count_kv'), numHeads);
  const headDim = meta.number(key('attention.key_length'), numHeads > 0 ? dim / numHeads : 0);
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const embd = file.tensors.find((t) => t.name === 'token_embd.weight');
  const vocabSize = meta.number(key('vocab_size'), embd?.shape[1] ?? (tokens?.value as unknown[] | undefined)?.length ?? 0);
  const scalingType = meta.string(key('rope.scaling.type'), 'none');
  const scalingFactor = meta.number(key('rope.scaling.factor'), 1);
  const config: LlamaConfig = {
    architecture: arch,
    dim,
    numLayers: meta.number(key('block_count')),
    numHeads,
    numKvHeads,
    headDim,
    ffnDim: meta.number(key('feed_forward_length')),
    vocabSize,
    contextLength: meta.number(key('context_length')),
    rmsEps: meta.number(key('attention.layer_norm_rms_epsilon'), 1e-5),
    rope: {
      mode: 'norm',
      numRotaryDims: meta.number(key('rope.dimension_count'), headDim),
      freqBase: meta.number(key('rope.freq_base'), 10000),
      freqScale: scalingType === 'linear' && scalingFactor > 0 ? 1 / scalingFactor : 1,
    },
  };
  const bad = (what: string): never => {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: invalid ${arch} hyperparameters: ${what}`);
  };
  // upper bounds far above any real model (Llama 3.1 405B: dim 16384, 126 layers, ffn 53248;
  // vocabularies up to ~262k; contexts up to ~10M), so that a corrupt count fails here and not as
  // an allocation of 2^62 layers
  const limits = { dim: 2 ** 17, numHeads: 2 ** 12, numKvHeads: 2 ** 12, headDim: 2 ** 12, vocabSize: 2 ** 23, ffnDim: 2 ** 20, numLayers: 2 ** 12, contextLength: 2 ** 27 };
  const values = { dim, numHeads, numKvHeads, headDim, vocabSize, ffnDim: config.ffnDim, numLayers: config.numLayers, contextLength: config.contextLength };
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v <= 0 || v > limits[name as keyof typeof limits]) bad(`${name} = ${v} (must be an integer from 1 to ${limits[name as keyof typeof limits]})`);
  }
  if (numHeads % numKvHeads !== 0) bad(`head_count ${numHeads} is not a multiple of head_count_kv ${numKvHeads}`);
  // values that cannot give finite activations: a NaN, infinite or non-positive epsilon or rope
  // base makes every logit NaN (llama.cpp's files have eps 1e-6..1e-5, bases 1e4..1e6)
  if (!(config.rmsEps > 0 && config.rmsEps <= 1)) bad(`attention.layer_norm_rms_epsilon = ${config.rmsEps} (must be in (0, 1])`);
  if (!(config.rope.freqBase > 0 && Number.isFinite(config.rope.freqBase))) bad(`rope.freq_base = ${config.rope.freqBase} (must be finite and > 0)`);
  if (!(scalingFactor > 0 && Number.isFinite(scalingFactor))) bad(`rope.scaling.factor = ${scalingFactor} (must be finite and > 0)`);
  if (config.rope.numRotaryDims > headDim || config.rope.numRotaryDims % 2 !== 0) bad(`rope.dimension_count ${config.rope.numRotaryDims}`);
  if (scalingType !== 'none' && scalingType !== 'linear' && !(scalingType === 'yarn' && scalingFactor === 1)) {
    throw new ModelLoadError('UNSUPPORTED_ARCHITECTURE', `${file.path}: rope scaling '${scalingType}' is not supported yet`);
  }
  return config;
}

/** The matrices' rows one under the other, as one matrix (same type and width; row-major ggml blocks). */
function stackRows(name: string, parts: readonly WeightTensor[]): WeightTensor {
  const data = new Uint8Array(parts.reduce((sum, p) => sum + p.data.length, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return { name, type: parts[0]!.type, numRows: parts.reduce((sum, p) => sum + p.numRows, 0), numCols: parts[0]!.numCols, data };
}

/** Rows [start, start + numTokens) of a batch that one attention call covers. */
type AttentionRun = { readonly start: number; readonly numTokens: number } & (
  | { readonly blockTable: Int32Array; readonly blockTables?: undefined; readonly blockTableStride?: undefined }
  | { readonly blockTables: Int32Array; readonly blockTableStride: number }
);

/**
 * The batch's sequences as attention calls: each run of consecutive one-token sequences (decode)
 * as one attentionBatch with their block tables side by side, every other sequence on its own.
 */
function attentionRuns(batch: ForwardBatch, ws: Workspace): AttentionRun[] {
  const runs: AttentionRun[] = [];
  const seqs = batch.sequences;
  for (let i = 0; i < seqs.length; ) {
    let end = i;
    while (end < seqs.length && seqs[end]!.numTokens === 1) end++;
    if (end - i < 2) {
      runs.push({ start: seqs[i]!.start, numTokens: seqs[i]!.numTokens, blockTable: seqs[i]!.blockTable });
      i++;
      continue;
    }
    let stride = 1;
    for (let j = i; j < end; j++) stride = Math.max(stride, seqs[j]!.blockTable.length);
    const tables = ws.getInt(`blockTables${runs.length}`, (end - i) * stride).fill(0);
    for (let j = i; j < end; j++) tables.set(seqs[j]!.blockTable, (j - i) * stride);
    runs.push({ start: seqs[i]!.start, numTokens: end - i, blockTables: tables, blockTableStride: stride });
    i = end;
  }
  return runs;
}

interface LlamaLayer {
  readonly attnNorm: Float32Array;
  /** [q, k and v rows stacked] when the three have the same type (one matmul reads them all), else [wq, wk, wv] */
  readonly qkv: readonly [WeightTensor] | readonly [WeightTensor, WeightTensor, WeightTensor];
  readonly wo: WeightTensor;
  readonly ffnNorm: Float32Array;
  /** [gate and up rows stacked] when the two have the same type (one matmul reads both), else [wGate, wUp] */
  readonly gateUp: readonly [WeightTensor] | readonly [WeightTensor, WeightTensor];
  readonly wDown: WeightTensor;
}

/** Llama decoder (Llama 2/3, Mistral, and GGUFs converted with arch 'llama'). */
export class LlamaModel {
  private readonly layers: LlamaLayer[];
  private readonly tokenEmbedding: WeightTensor;
  private readonly outputNorm: Float32Array;
  private readonly output: WeightTensor;
  private readonly rope: RopeParams;
  private readonly attentionShape: AttentionShape;
  private readonly ws = new Workspace();
  readonly isOutputTied: boolean;

  constructor(
    readonly config: LlamaConfig,
    file: GgufFile,
    private readonly backend: KernelBackend,
  ) {
    const c = config;
    const w = new WeightLoader(file);
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const prepare = (t: WeightTensor): WeightTensor => backend.prepareWeight?.(t) ?? t;
    const matrix = (name: string, numRows: number, numCols: number): WeightTensor => prepare(w.matrix(name, numRows, numCols));
    // matrices that read the same activations: one stacked matrix (one matmul) when their types match
    const stacked = <T extends readonly WeightTensor[]>(name: string, parts: T): readonly [WeightTensor] | T =>
      parts.every((p) => p.type === parts[0]!.type) ? [prepare(stackRows(name, parts))] : (parts.map(prepare) as unknown as T);
    this.tokenEmbedding = w.matrix('token_embd.weight', c.vocabSize, c.dim);
    this.layers = Array.from({ length: c.numLayers }, (_, i) => {
      const qkv = [
        w.matrix(`blk.${i}.attn_q.weight`, qDim, c.dim),
        w.matrix(`blk.${i}.attn_k.weight`, kvDim, c.dim),
        w.matrix(`blk.${i}.attn_v.weight`, kvDim, c.dim),
      ] as const;
      const gateUp = [w.matrix(`blk.${i}.ffn_gate.weight`, c.ffnDim, c.dim), w.matrix(`blk.${i}.ffn_up.weight`, c.ffnDim, c.dim)] as const;
      return {
        attnNorm: w.vector(`blk.${i}.attn_norm.weight`, c.dim),
        qkv: stacked(`blk.${i}.attn_qkv.weight`, qkv),
        wo: matrix(`blk.${i}.attn_output.weight`, c.dim, qDim),
        ffnNorm: w.vector(`blk.${i}.ffn_norm.weight`, c.dim),
        gateUp: stacked(`blk.${i}.ffn_gate_up.weight`, gateUp),
        wDown: matrix(`blk.${i}.ffn_down.weight`, c.dim, c.ffnDim),
      };
    });
    this.outputNorm = w.vector('output_norm.weight', c.dim);
    this.isOutputTied = !w.has('output.weight');
    // a tied output head gets its own prepared copy: the embedding lookup needs the plain rows
    this.output = this.isOutputTied ? prepare(this.tokenEmbedding) : matrix('output.weight', c.vocabSize, c.dim);
    this.rope = { ...c.rope, freqFactors: w.optionalVector('rope_freqs.weight', c.rope.numRotaryDims / 2) };
    this.attentionShape = {
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      scale: 1 / Math.sqrt(c.headDim),
    };
    // forward's matmuls in call order: a decode step reads each weight once, and the backend can
    // read the next one while the small ops before its matmul run
    backend.planReadAhead?.(this.matmulWeights);
  }

  argmaxRows(logits: Float32Array, numRows: number): Int32Array {
    const out = this.ws.getInt('argmax', numRows);
    this.backend.argmaxRows(out, logits, numRows, this.config.vocabSize);
    return out;
  }

  get backendName(): string {
    return this.backend.name;
  }

  /** All weights, for reporting and for backends that prepare them. */
  get weights(): WeightTensor[] {
    const matmuls = this.matmulWeights;
    return [this.tokenEmbedding, ...(this.output === this.tokenEmbedding ? matmuls.slice(0, -1) : matmuls)];
  }

  /** the weights forward multiplies by, in call order (the output head last) */
  private get matmulWeights(): WeightTensor[] {
    return [...this.layers.flatMap((l) => [...l.qkv, l.wo, ...l.gateUp, l.wDown]), this.output];
  }

  /**
   * Runs the batch through the model, writing K/V into `kv`. Returns [logitRows.length, vocabSize]
   * logits in a buffer this model reuses (valid until the next forward: no 16 MB allocation, page
   * faults and garbage per step of a 32-sequence batch with a 128K vocabulary).
   */
  forward(batch: ForwardBatch, kv: KvStorage): Float32Array {
    const c = this.config;
    const b = this.backend;
    const n = batch.tokenIds.length;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const ws = this.ws;
    const x = ws.get('x', n * c.dim); //         [n, dim] residual stream
    const xn = ws.get('xn', n * c.dim); //       [n, dim] normed
    const q = ws.get('q', n * qDim); //          [n, numHeads, headDim]
    const k = ws.get('k', n * kvDim); //         [n, numKvHeads, headDim]
    const v = ws.get('v', n * kvDim); //         [n, numKvHeads, headDim]
    const attn = ws.get('attn', n * qDim); //    [n, numHeads, headDim]
    const proj = ws.get('proj', n * c.dim); //   [n, dim]
    const gateUp = ws.get('gateUp', n * 2 * c.ffnDim); // [n, 2 ffnDim] each row gate, then up
    const slotIds = ws.getInt('slots', n); //    [n]

    for (const s of batch.sequences) {
      for (let t = s.start; t < s.start + s.numTokens; t++) slotIds[t] = kv.slotOf(s.blockTable, batch.positions[t]!);
    }
    const runs = attentionRuns(batch, ws);

    b.embedding(x, this.tokenEmbedding, batch.tokenIds);
    for (let li = 0; li < c.numLayers; li++) {
      const L = this.layers[li]!;
      if (li === 0) b.rmsNorm(xn, x, L.attnNorm, n, c.rmsEps); // (later layers': the previous layer's last step)
      if (L.qkv.length === 1) {
        const width = qDim + 2 * kvDim;
        const qkv = ws.get('qkv', n * width); // [n, qDim + 2 kvDim]
        b.matmul(qkv, L.qkv[0], xn, n);
        for (let t = 0; t < n; t++) {
          const row = t * width;
          q.set(qkv.subarray(row, row + qDim), t * qDim);
          k.set(qkv.subarray(row + qDim, row + qDim + kvDim), t * kvDim);
          v.set(qkv.subarray(row + qDim + kvDim, row + width), t * kvDim);
        }
      } else {
        b.matmul(q, L.qkv[0], xn, n);
        b.matmul(k, L.qkv[1], xn, n);
        b.matmul(v, L.qkv[2], xn, n);
      }
      b.rope(q, n, c.numHeads, c.headDim, batch.positions, this.rope);
      b.rope(k, n, c.numKvHeads, c.headDim, batch.positions, this.rope);
      const layer = kv.layer(li);
      b.storeKv(layer, k, v, slotIds, n);
      for (const r of runs) {
        const attnRows = attn.subarray(r.start * qDim, (r.start + r.numTokens) * qDim);
        const qRows = q.subarray(r.start * qDim, (r.start + r.numTokens) * qDim);
        const positions = batch.positions.subarray(r.start, r.start + r.numTokens);
        if (r.blockTables) b.attentionBatch(attnRows, qRows, layer, r.blockTables, r.blockTableStride, positions, r.numTokens, this.attentionShape);
        else b.attention(attnRows, qRows, { ...layer, blockTable: r.blockTable }, positions, r.numTokens, this.attentionShape);
      }
      b.matmul(proj, L.wo, attn, n);
      b.addRmsNorm(xn, x, proj, L.ffnNorm, n, c.rmsEps);
      if (L.gateUp.length === 1) {
        b.matmul(gateUp, L.gateUp[0], xn, n);
      } else {
        const gate = ws.get('gate', n * c.ffnDim); // [n, ffnDim]
        const up = ws.get('up', n * c.ffnDim); //    [n, ffnDim]
        b.matmul(gate, L.gateUp[0], xn, n);
        b.matmul(up, L.gateUp[1], xn, n);
        for (let t = 0; t < n; t++) {
          gateUp.set(gate.subarray(t * c.ffnDim, (t + 1) * c.ffnDim), 2 * t * c.ffnDim);
          gateUp.set(up.subarray(t * c.ffnDim, (t + 1) * c.ffnDim), (2 * t + 1) * c.ffnDim);
        }
      }
      b.matmulSwiglu(proj, L.wDown, gateUp, n);
      const next = this.layers[li + 1];
      if (next) b.addRmsNorm(xn, x, proj, next.attnNorm, n, c.rmsEps);
      else b.add(x, x, proj, n * c.dim);
    }

    // only the rows whose logits are wanted go through the output head
    const numOut = batch.logitRows.length;
    const last = ws.get('last', numOut * c.dim); // [numOut, dim]
    for (let i = 0; i < numOut; i++) {
      const r = batch.logitRows[i]!;
      last.set(x.subarray(r * c.dim, (r + 1) * c.dim), i * c.dim);
    }
    b.rmsNorm(last, last, this.outputNorm, numOut, c.rmsEps);
    const logits = ws.get('logits', numOut * c.vocabSize); // [numOut, vocabSize]
    b.matmul(logits, this.output, last, numOut);
    return logits;
  }
}
