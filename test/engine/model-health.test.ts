import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType, loadModel, readGguf, writeGguf } from '../../src/api/index.js';
import { createServingEngine } from '../../src/engine/async-engine.js';
import { ModelLoadError, RequestFailedError } from '../../src/errors/engine-error.js';
import { GgufValueType, readTensorData } from '../../src/formats/gguf/index.js';
import { resolveModelShape } from '../../src/testing/model-shapes.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { tempDir } from '../parity/helpers.js';

/** Issue 23, finding 4: a model that cannot produce finite values is refused at load; one request's NaN fails that request only. */
const dir = tempDir('model-health');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tiny = resolveModelShape('tiny');

/** a copy of the clean tiny model with metadata `key` set to `value` (same GGUF value type) */
function withMetadata(path: string, key: string, value: number): void {
  const source = join(dir, 'source.gguf');
  writeSyntheticModel(source, { shape: 'tiny', weightType: 'F32', seed: 3 });
  const file = readGguf(source);
  const data = readTensorData(file, file.tensors);
  const metadata = new Map(file.metadata);
  const old = metadata.get(key);
  if (old === undefined || old.type === GgufValueType.ARRAY) throw new Error(`${key} is not a scalar in the synthetic model`);
  metadata.set(key, { type: old.type, value });
  writeGguf(path, { metadata, tensors: file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: data.get(t.name)! })) });
}

describe('metadata that cannot give finite logits', () => {
  it.each([
    ['rms epsilon -inf', 'llama.attention.layer_norm_rms_epsilon', -Infinity, /layer_norm_rms_epsilon = -Infinity/],
    ['rms epsilon NaN', 'llama.attention.layer_norm_rms_epsilon', Number.NaN, /layer_norm_rms_epsilon = NaN/],
    ['rms epsilon 0', 'llama.attention.layer_norm_rms_epsilon', 0, /layer_norm_rms_epsilon = 0/],
    ['rope base -1', 'llama.rope.freq_base', -1, /rope.freq_base = -1/],
    ['rope base inf', 'llama.rope.freq_base', Infinity, /rope.freq_base = Infinity/],
  ] as const)('is refused at load: %s', async (label, key, value, message) => {
    const path = join(dir, `${label.replace(/\W+/g, '-')}.gguf`);
    withMetadata(path, key, value);
    const load = loadModel(path, { backend: 'reference' });
    await expect(load).rejects.toBeInstanceOf(ModelLoadError);
    await expect(load).rejects.toThrow(message);
  });
});

describe('a request whose logits are not finite', () => {
  it('fails alone; the engine serves the others before and after', async () => {
    const clean = join(dir, 'clean.gguf');
    writeSyntheticModel(clean, { shape: 'tiny', weightType: 'F32', seed: 5 });
    // token 300's embedding row is NaN: a prompt with it gives NaN logits, any other prompt does not
    const poisoned = join(dir, 'nan-row.gguf');
    const file = readGguf(clean);
    const data = readTensorData(file, file.tensors);
    const tensors = file.tensors.map((t) => {
      const bytes = new Uint8Array(data.get(t.name)!);
      if (t.name === 'token_embd.weight') {
        expect(t.type).toBe(GgmlType.F32);
        new Float32Array(bytes.buffer, 300 * tiny.dim * 4, tiny.dim).fill(Number.NaN);
      }
      return { name: t.name, shape: t.shape, type: t.type, data: bytes };
    });
    writeGguf(poisoned, { metadata: file.metadata, tensors });

    for (const backend of ['reference', 'native'] as const) {
      using model = await loadModel(poisoned, { backend: backend === 'native' ? 'auto' : 'reference', threads: 1 });
      const engine = createServingEngine(model, { maxNumSeqs: 4 });
      const run = async (prompt: number[], temperature: number): Promise<number> => {
        let n = 0;
        for await (const chunk of engine.generate(prompt, { maxTokens: 8, temperature, ignoreEos: true, seed: 1 })) n += chunk.tokenIds.length;
        return n;
      };
      // in one batch: the poisoned request (greedy and sampled) fails, the clean one completes
      const results = await Promise.allSettled([run([1, 10, 300, 20], 0), run([1, 10, 20, 30], 0), run([1, 300], 0.8)]);
      expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.any(RequestFailedError) });
      expect((results[0] as PromiseRejectedResult).reason.code).toBe('NON_FINITE_LOGITS');
      expect(results[1]).toEqual({ status: 'fulfilled', value: 8 });
      expect(results[2]).toMatchObject({ status: 'rejected', reason: expect.any(RequestFailedError) });
      // and the engine is still alive
      expect(await run([1, 40, 50], 0)).toBe(8);
    }
  });
});
