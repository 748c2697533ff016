import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
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
  });

  it('uploads a tied embedding once, for matmul: the output head and the lookups share it', () => {
    const backend = new ReferenceBackend();
    const upload = vi.spyOn(backend, 'uploadWeight');
    createModel(readGguf(path), backend);
    const uploads = upload.mock.calls.filter(([w]) => w.name === 'token_embd.weight');
    expect(uploads.map(([, use]) => use ?? 'matmul')).toEqual(['matmul']);
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
});
