import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { GgmlType } from '../formats/ggml-type.js';
import { gguf, readGguf, readTensorData, writeGguf, type GgufFile, type GgufValue } from '../formats/gguf/index.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import { longRopeAttnFactor, writeSyntheticModel } from '../testing/synthetic-model.js';
import { choosePhi3RopeFactors, parsePhi3Config, Phi3Model } from './phi3.js';
import { createModel } from './registry.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-phi3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `file` rewritten with some metadata replaced and tensors dropped */
function rewrite(file: GgufFile, path: string, metadata: Record<string, GgufValue>, keep: (name: string) => boolean = () => true): string {
  const data = readTensorData(file, file.tensors);
  writeGguf(path, {
    metadata: { ...Object.fromEntries(file.metadata), ...metadata },
    tensors: file.tensors.filter((t) => keep(t.name)).map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => data.get(t.name)! })),
  });
  return path;
}

function loadError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}

describe('phi3', () => {
  const path = join(dir, 'tiny-phi3.gguf');
  writeSyntheticModel(path, { shape: 'tiny-phi3', weightType: 'Q8_0', seed: 5 });
  const plainPath = join(dir, 'tiny-phi3-4k.gguf');
  writeSyntheticModel(plainPath, { shape: 'tiny-phi3-4k', weightType: 'Q8_0', seed: 5 });
  const tokens = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 500));

  it('reads its config as llama.cpp does: NEOX rope over 48 of 64 dims, q × 1/√headDim, LongRoPE original context and attention factor, no window', () => {
    const config = parsePhi3Config(readGguf(path));
    expect(config).toMatchObject({ architecture: 'phi3', hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnSize: 512, activation: 'silu', hasAttentionBias: false });
    expect(config.rope).toMatchObject({ mode: 'neox', numRotaryDims: 48, freqBase: 10000, freqScale: 1 });
    expect(config.queryScale).toBe(Math.fround(1 / 8));
    expect(config.ropeScaling).toEqual({ originalContextLength: 256, attnFactor: Math.fround(longRopeAttnFactor(1024, { type: 'longrope', originalContextLength: 256 })) });
    expect(config.ropeScaling.attnFactor).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(256)), 6);
    expect(config.slidingWindow).toBeUndefined();
    // Phi-3 mini 4k: no LongRoPE keys; its window of 32 is in the file and ignored (llama.cpp disables phi3's)
    const plain = parsePhi3Config(readGguf(plainPath));
    expect(readGguf(plainPath).metadata.get('phi3.attention.sliding_window')?.value).toBe(32);
    expect(plain.slidingWindow).toBeUndefined();
    expect(plain.ropeScaling).toEqual({ originalContextLength: 512, attnFactor: 1 });
    expect(plain.rope.numRotaryDims).toBe(64);
  });

  it("picks the long factors when the context, rounded up to 256 as llama.cpp's n_ctx, exceeds the original context", () => {
    const scaling = { originalContextLength: 4096, attnFactor: 1 };
    expect(choosePhi3RopeFactors(4096, scaling)).toBe('short');
    expect(choosePhi3RopeFactors(100, scaling)).toBe('short');
    expect(choosePhi3RopeFactors(4097, scaling)).toBe('long');
    // an original context that is not a multiple of 256: llama.cpp's padded 4096 already exceeds 4000
    expect(choosePhi3RopeFactors(3900, { originalContextLength: 4000, attnFactor: 1 })).toBe('long');
    expect(choosePhi3RopeFactors(3840, { originalContextLength: 4000, attnFactor: 1 })).toBe('short');
  });

  it('uses the factors the context size picks, and they change the logits', () => {
    const file = readGguf(path);
    const short = new Phi3Model(parsePhi3Config(file), file, new ReferenceBackend(), 256);
    const long = new Phi3Model(parsePhi3Config(file), file, new ReferenceBackend(), 257);
    expect([short.ropeFactors, long.ropeFactors]).toEqual(['short', 'long']);
    const a = evaluateLogits(short, tokens, 'f32');
    const b = evaluateLogits(long, tokens, 'f32');
    expect(a[0]).toEqual(b[0]); // position 0: every rope is the identity
    expect(a[39]).not.toEqual(b[39]);
    // through the registry, as Model.load passes its context size
    expect(evaluateLogits(createModel(file, new ReferenceBackend(), { contextSize: 1024 }), tokens, 'f32')[39]).toEqual(b[39]);
    expect((createModel(readGguf(plainPath), new ReferenceBackend(), { contextSize: 512 }) as Phi3Model).ropeFactors).toBe('none');
  });

  it('applies the attention factor: without it the logits differ', () => {
    const file = readGguf(path);
    const noFactor = readGguf(rewrite(file, join(dir, 'no-attn-factor.gguf'), { 'phi3.rope.scaling.attn_factor': gguf.f32(1) }));
    const withIt = evaluateLogits(createModel(file, new ReferenceBackend(), { contextSize: 256 }), tokens, 'f32');
    const without = evaluateLogits(createModel(noFactor, new ReferenceBackend(), { contextSize: 256 }), tokens, 'f32');
    expect(without[5]).not.toEqual(withIt[5]);
  });

  it('loads the fused attn_qkv and ffn_up as they are (one matrix each, no split copies)', () => {
    const file = readGguf(plainPath);
    const model = createModel(file, new ReferenceBackend()) as Phi3Model;
    const qkv = file.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight')!;
    const up = file.tensors.find((t) => t.name === 'blk.0.ffn_up.weight')!;
    expect(qkv.shape).toEqual([256, 3 * 256]);
    expect(up.shape).toEqual([256, 2 * 512]);
    expect(file.tensors.some((t) => t.name.includes('ffn_gate') || t.name.includes('attn_q.'))).toBe(false);
    expect(evaluateLogits(model, tokens.slice(0, 3), 'f32')[2]!.every(Number.isFinite)).toBe(true);
  });

  it('refuses invalid LongRoPE settings and a head layout llama.cpp cannot run', () => {
    const file = readGguf(path);
    const badFactor = rewrite(file, join(dir, 'bad-factor.gguf'), { 'phi3.rope.scaling.attn_factor': gguf.f32(0) });
    expect(loadError(() => parsePhi3Config(readGguf(badFactor))).message).toMatch(/attn_factor/);
    const badOrig = rewrite(file, join(dir, 'bad-orig.gguf'), { 'phi3.rope.scaling.original_context_length': gguf.u32(0) });
    expect(loadError(() => parsePhi3Config(readGguf(badOrig))).message).toMatch(/original_context_length/);
    const wideHeads = rewrite(file, join(dir, 'wide-heads.gguf'), { 'phi3.attention.key_length': gguf.u32(128), 'phi3.attention.value_length': gguf.u32(128) });
    expect(loadError(() => parsePhi3Config(readGguf(wideHeads))).message).toMatch(/is not embedding_length/);
  });

  it('refuses a tensor it would otherwise ignore (a fused qkv bias)', () => {
    const file = readGguf(plainPath);
    const data = readTensorData(file, file.tensors);
    const withBias = join(dir, 'qkv-bias.gguf');
    writeGguf(withBias, {
      metadata: Object.fromEntries(file.metadata),
      tensors: [
        ...file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => data.get(t.name)! })),
        { name: 'blk.0.attn_qkv.bias', shape: [768], type: GgmlType.F32, data: () => new Uint8Array(768 * 4) },
      ],
    });
    expect(loadError(() => createModel(readGguf(withBias), new ReferenceBackend())).message).toMatch(/attn_qkv\.bias' is not used by the phi3 architecture/);
  });
});
