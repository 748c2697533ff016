import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryObjects } from 'node:v8';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { gguf, readGguf, readTensorData, writeGguf, type GgufTensorInfo } from '../formats/gguf/index.js';
import { probeNativeBackend } from '../kernels/native/native-backend.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import { maxRelativeError } from '../testing/relative-error.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseLlamaConfig } from './llama.js';
import { createModel } from './registry.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-llama-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('llama', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-64', weightType: 'Q8_0', seed: 5 });

  it('reads its config from the common GGUF keys, with SwiGLU and adjacent-pair rope', () => {
    const config = parseLlamaConfig(readGguf(path));
    expect(config).toMatchObject({ architecture: 'llama', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16, ffnSize: 128, activation: 'silu' });
    expect(config.rope.mode).toBe('norm');
    expect(config.slidingWindow).toBeUndefined();
  });

  it('uploads a tied embedding once, for matmul: the output head and the lookups share it', () => {
    const backend = new ReferenceBackend();
    const upload = vi.spyOn(backend, 'uploadWeight');
    createModel(readGguf(path), backend);
    const uploads = upload.mock.calls.filter(([w]) => w.name === 'token_embd.weight');
    expect(uploads.map(([, use]) => use ?? 'matmul')).toEqual(['matmul']);
  });

  it("holds no bytes read from the file once the backend has copied them: a packed tied embedding's (147 MB of 1B Q4_0) were held to the end of the load", () => {
    /** the bytes the loader reads, told apart from every other Uint8Array in the heap */
    class FileBytes extends Uint8Array {}
    const file = readGguf(path);
    const tensorSource = { read: (info: GgufTensorInfo) => new FileBytes(readTensorData(file, [info]).get(info.name)!) };
    const backend = new ReferenceBackend();
    /** FileBytes alive (after a full collection) at each upload, the one being uploaded included */
    const liveAtUpload: number[] = [];
    // as the native backend packs a matmul weight: a copy, the file's bytes left to the loader (not
    // vi.spyOn, whose mock.calls would hold every tensor)
    backend.uploadWeight = (w, use) => {
      liveAtUpload.push(queryObjects(FileBytes, { format: 'count' }) as number);
      return use === 'embedding' ? w : { ...w, data: new Uint8Array(w.data) };
    };
    createModel({ ...file, tensorSource }, backend);
    expect(liveAtUpload.length).toBeGreaterThan(4);
    expect(Math.max(...liveAtUpload)).toBe(1);
  });

  it.runIf(probeNativeBackend({ threads: 1 }).ok)("a tied embedding's lookups read the native backend's packed table: logits as the reference backend's", () => {
    const probe = probeNativeBackend({ threads: 1 });
    if (!probe.ok) throw new Error(probe.reason);
    const file = readGguf(path);
    const ids = [1, 7, 30, 200, 5];
    const native = evaluateLogits(createModel(file, probe.backend), ids, 'f32');
    const reference = evaluateLogits(createModel(file, new ReferenceBackend()), ids, 'f32');
    probe.backend.dispose();
    for (let i = 0; i < ids.length; i++) expect(maxRelativeError(native[i]!, reference[i]!)).toBeLessThan(1e-4);
  });

  it('attends within llama.attention.sliding_window on every layer (Mistral v0.1): the same logits while the prompt fits the window, others beyond it', () => {
    const file = readGguf(path);
    const data = readTensorData(file, file.tensors);
    const windowed = join(dir, 'windowed.gguf');
    writeGguf(windowed, {
      metadata: { ...Object.fromEntries(file.metadata), 'llama.attention.sliding_window': gguf.u32(4) },
      tensors: file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => data.get(t.name)! })),
    });
    expect(parseLlamaConfig(readGguf(windowed)).slidingWindow).toBe(4);
    const ids = [1, 7, 30, 200, 5, 90, 14, 3];
    const full = evaluateLogits(createModel(file, new ReferenceBackend()), ids, 'f32');
    const window = evaluateLogits(createModel(readGguf(windowed), new ReferenceBackend()), ids, 'f32');
    for (let i = 0; i < 4; i++) expect(window[i]).toEqual(full[i]);
    for (let i = 4; i < ids.length; i++) expect(maxRelativeError(window[i]!, full[i]!)).toBeGreaterThan(1e-3);
    // a token beyond the window changes nothing: the last position sees positions 4..7 only
    const changedFirst = evaluateLogits(createModel(readGguf(windowed), new ReferenceBackend()), [2, ...ids.slice(1)], 'f32');
    expect(changedFirst[ids.length - 1]).toEqual(window[ids.length - 1]);
  });

  it('refuses a sliding window that is not a positive integer', () => {
    const file = readGguf(path);
    const data = readTensorData(file, file.tensors);
    const bad = join(dir, 'bad-window.gguf');
    writeGguf(bad, {
      metadata: { ...Object.fromEntries(file.metadata), 'llama.attention.sliding_window': gguf.u32(0) },
      tensors: file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => data.get(t.name)! })),
    });
    expect(() => parseLlamaConfig(readGguf(bad))).toThrow(/attention\.sliding_window = 0 \(must be a positive integer\)/);
  });
});
