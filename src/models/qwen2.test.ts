import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { GgmlType } from '../formats/ggml-type.js';
import { readGguf, readTensorData, writeGguf, type GgufFile } from '../formats/gguf/index.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseQwen2Config } from './qwen2.js';
import { createModel } from './registry.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-qwen2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `file` rewritten with its tensors filtered and extra ones added */
function rewrite(file: GgufFile, path: string, keep: (name: string) => boolean, extra: { name: string; values: Float32Array }[] = []): string {
  const data = readTensorData(file, file.tensors);
  writeGguf(path, {
    metadata: Object.fromEntries(file.metadata),
    tensors: [
      ...file.tensors.filter((t) => keep(t.name)).map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: () => data.get(t.name)! })),
      ...extra.map(({ name, values }) => ({ name, shape: [values.length], type: GgmlType.F32, data: () => new Uint8Array(values.buffer) })),
    ],
  });
  return path;
}

describe('qwen2', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-qwen2', weightType: 'Q8_0', seed: 5 });

  it('reads its config from the qwen2.* keys, with q/k/v biases, NEOX rope and SwiGLU', () => {
    const config = parseQwen2Config(readGguf(path));
    expect(config).toMatchObject({ architecture: 'qwen2', hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnSize: 768, activation: 'silu', hasAttentionBias: true });
    expect(config.rope).toMatchObject({ mode: 'neox', freqBase: 1e6, numRotaryDims: 64 });
    expect(config.normEps).toBe(Math.fround(1e-6));
  });

  it('runs without biases when the file has none (llama.cpp reads them only when present)', () => {
    const file = readGguf(path);
    const noBias = rewrite(file, join(dir, 'no-bias.gguf'), (name) => !name.endsWith('.bias'));
    expect(parseQwen2Config(readGguf(noBias)).hasAttentionBias).toBe(false);
    const logits = evaluateLogits(createModel(readGguf(noBias), new ReferenceBackend()), [1, 7, 30], 'f32');
    const withBias = evaluateLogits(createModel(file, new ReferenceBackend()), [1, 7, 30], 'f32');
    expect(logits[2]).not.toEqual(withBias[2]);
  });

  it('fails at load, naming the tensor, when one layer lacks a bias', () => {
    const partial = rewrite(readGguf(path), join(dir, 'partial.gguf'), (name) => name !== 'blk.1.attn_v.bias');
    expect(() => createModel(readGguf(partial), new ReferenceBackend())).toThrow(/blk\.1\.attn_v\.bias' is missing/);
  });

  it('refuses an output bias instead of ignoring it', () => {
    const withOutputBias = rewrite(readGguf(path), join(dir, 'output-bias.gguf'), () => true, [{ name: 'output.bias', values: new Float32Array(1024) }]);
    const err = (() => {
      try {
        createModel(readGguf(withOutputBias), new ReferenceBackend());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('UNSUPPORTED_ARCHITECTURE');
    expect((err as Error).message).toMatch(/output bias/);
  });
});
