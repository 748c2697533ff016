import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../engine/loaded-model.js';
import { GgmlType } from '../formats/ggml-type.js';
import { DisposedError } from '../kernels/disposed-error.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { HostAccessError, OpaqueBackend } from './opaque-backend.js';
import type { ModelShapeName } from './model-shapes.js';
import { writeSyntheticModel, type SyntheticWeightType } from './synthetic-model.js';

const STORIES_260K = resolve(import.meta.dirname, '../../../shared/models/stories260K/stories260K.gguf');

/** the same bits, element by element (NaN and -0 included) */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Greedy tokens and every position's logits on the reference backend and on the opaque one: the
 * model code must not see the difference (it never touches a buffer on the host) and the numbers
 * must be the same bits. The opaque backend counts its read-backs: one per step.
 */
async function expectSameOnBothBackends(path: string, prompt: readonly number[], numTokens: number): Promise<void> {
  const reference = new ReferenceBackend();
  const opaque = new OpaqueBackend();
  const plain = await loadModel(path, { backend: reference, contextSize: 256, kvCacheType: 'f32' });
  const wrapped = await loadModel(path, { backend: opaque, contextSize: 256, kvCacheType: 'f32' });
  try {
    const want = (await plain.complete(prompt, { temperature: 0, maxTokens: numTokens, ignoreEos: true })).tokenIds;
    const readsBefore = opaque.numReads;
    const got = (await wrapped.complete(prompt, { temperature: 0, maxTokens: numTokens, ignoreEos: true })).tokenIds;
    expect(got).toEqual(want);
    expect(got).toHaveLength(numTokens);
    // one logits read-back per step: the prompt's step, then one per token after the first
    expect(opaque.numReads - readsBefore).toBe(numTokens);

    const tokens = [...prompt, ...want];
    const wantLogits = plain.evaluate(tokens);
    const gotLogits = wrapped.evaluate(tokens);
    expect(gotLogits).toHaveLength(tokens.length);
    gotLogits.forEach((row, i) => expect(sameBits(row, wantLogits[i]!), `position ${i}`).toBe(true));
  } finally {
    wrapped.dispose();
    plain.dispose();
  }
  opaque.dispose();
  reference.dispose();
}

describe('OpaqueBackend', () => {
  it('hands out buffers that are not host memory: indexing or typed-array methods throw', () => {
    const b = new OpaqueBackend();
    const buf = b.allocate(4);
    expect(buf.length).toBe(4);
    expect(buf).not.toBeInstanceOf(Float32Array);
    expect(() => (buf as unknown as Float32Array)[0]).toThrow(HostAccessError);
    expect(() => (buf as unknown as Float32Array).subarray(0, 1)).toThrow(HostAccessError);
    expect(() => ((buf as unknown as Float32Array)[0] = 1)).toThrow(HostAccessError);
  });

  it('refuses host arrays and other backends\' objects as arguments', () => {
    const b = new OpaqueBackend();
    const buf = b.allocate(4);
    expect(() => b.add(buf, buf, new Float32Array(4), 4)).toThrow(/not a buffer of the opaque-reference backend: a host Float32Array/);
    expect(() => b.add(buf, buf, new OpaqueBackend().allocate(4), 4)).toThrow(/not a buffer/);
    const w = { name: 'w', type: GgmlType.F32, numRows: 1, numCols: 4, data: new Uint8Array(16) };
    expect(() => b.matmul(buf, w, buf, 1)).toThrow(/weight w was not uploaded/);
  });

  it('copies weights at upload: the caller may drop or change its bytes', () => {
    const b = new OpaqueBackend();
    const values = Float32Array.from([1, 2, 3, 4]);
    const data = new Uint8Array(values.buffer.slice(0));
    const w = b.uploadWeight({ name: 'w', type: GgmlType.F32, numRows: 1, numCols: 4, data });
    data.fill(0);
    const x = b.allocate(4);
    b.write(x, Float32Array.from([1, 1, 1, 1]));
    const out = b.allocate(1);
    b.matmul(out, w, x, 1);
    expect([...b.read(out)]).toEqual([10]);
  });
});

describe.skipIf(!existsSync(STORIES_260K))('a model on the opaque backend: the same tokens and logit bits as on the reference backend', () => {
  it('stories260K (needs ../shared/models)', async () => {
    await expectSameOnBothBackends(STORIES_260K, [1, 403, 407, 263, 31], 24);
  }, 120_000);
});

describe('synthetic models on the opaque backend: the same tokens and logit bits as on the reference backend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-opaque-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // every architecture's blocks: q/k/v bias (qwen2), q/k norm (qwen3), fused q/k/v and gate-up
  // (phi3), post-norms, soft-caps and sliding windows (gemma2/3); several weight types (the model
  // code treats every type alike; F32 rather than F16, whose reference matmul, which
  // converts every row for every token, took 9 of this file's 13 s)
  const cases: ReadonlyArray<readonly [ModelShapeName, SyntheticWeightType]> = [
    ['tiny', 'Q4_0'],
    ['tiny-llama3', 'Q8_0'],
    ['tiny-qwen2', 'Q4_K'],
    ['tiny-qwen3', 'F32'],
    ['tiny-gemma2', 'Q8_0'],
    ['tiny-gemma3', 'Q4_0'],
    ['tiny-phi3', 'Q8_0'],
  ];
  it.each(cases)('%s %s', async (shape, weightType) => {
    const path = join(dir, `${shape}-${weightType}.gguf`);
    writeSyntheticModel(path, { shape, weightType, seed: 11, contextLength: 256 });
    await expectSameOnBothBackends(path, [1, 7, 30, 2, 11], 12);
  }, 120_000);
});

describe('dispose on the opaque backend', () => {
  it('a freed buffer (and its views), a freed weight, a disposed KV cache or backend is a DisposedError; twice is harmless', () => {
    const b = new OpaqueBackend();
    const buf = b.allocate(8);
    const view = b.view(buf, 2, 4);
    b.free(buf);
    b.free(buf);
    expect(() => b.read(buf)).toThrow(DisposedError);
    expect(() => b.read(view)).toThrow(DisposedError);
    const w = b.uploadWeight({ name: 'w', type: GgmlType.F32, numRows: 1, numCols: 4, data: new Uint8Array(16) });
    b.freeWeight(w);
    b.freeWeight(w);
    expect(() => b.matmul(b.allocate(1), w, b.allocate(4), 1)).toThrow(DisposedError);
    const kv = b.allocateKvCache({ numLayers: 1, kvDim: 4, numBlocks: 1, blockSize: 2, dtype: 'f32' });
    const layer = kv.layer(0);
    kv.dispose();
    kv.dispose();
    expect(() => kv.layer(0)).toThrow(DisposedError);
    expect(() => b.storeKv(layer, b.allocate(4), b.allocate(4), Int32Array.from([0]), 1)).toThrow(DisposedError);
    b.dispose();
    b.dispose();
    expect(() => b.allocate(1)).toThrow(DisposedError);
  });
});
