import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { runInfo } from '../../src/cli/commands/info.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import { ModelLoadError } from '../../src/errors/engine-error.js';
import { readGguf } from '../../src/formats/gguf/index.js';
import { readHfDirectory } from '../../src/formats/hf/hf-directory.js';
import { ReferenceBackend } from '../../src/kernels/reference/reference-backend.js';
import { createModel } from '../../src/models/registry.js';
import { evaluateLogits } from '../../src/runner/evaluate-logits.js';

const STORIES = join(import.meta.dirname, '../../../shared/models/stories260K');
const GGUF = join(STORIES, 'stories260K.gguf');
const HF = join(STORIES, 'hf');
const hasShared = existsSync(join(HF, 'config.json'));

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe.skipIf(!hasShared)('stories260K as a Hugging Face directory', () => {
  it('gives the GGUF logits within 1e-5 (Q/K rows permuted back, tied embeddings)', () => {
    const backend = new ReferenceBackend();
    const fromGguf = createModel(readGguf(GGUF), backend);
    const fromHf = createModel(readHfDirectory(HF), backend);
    // the GGUF says 2048 tokens of context, config.json max_position_embeddings 512: the rest is equal
    expect({ ...fromHf.config, contextLength: 0 }).toEqual({ ...fromGguf.config, contextLength: 0 });
    const prompt = [1, 403, 407, 261, 378, 450, 285, 330, 416, 289, 259, 30, 400, 289, 270, 31];
    const expected = evaluateLogits(fromGguf, prompt, 'f32');
    const actual = evaluateLogits(fromHf, prompt, 'f32');
    let worst = 0;
    for (let i = 0; i < prompt.length; i++) worst = Math.max(worst, maxAbsDiff(actual[i]!, expected[i]!));
    expect(worst).toBeLessThan(1e-5);
  });

  it('loads through loadModel with the vocabulary of the GGUF (--tokenizer) and writes its greedy text', async () => {
    await expect(loadModel(HF, { backend: 'reference' })).rejects.toThrow(ModelLoadError);
    await expect(loadModel(HF, { backend: 'reference' })).rejects.toThrow(/has no tokenizer.*--tokenizer/);
    const fromHf = await loadModel(HF, { backend: 'reference', tokenizer: GGUF });
    const fromGguf = await loadModel(GGUF, { backend: 'reference' });
    try {
      const options = { maxTokens: 24, temperature: 0 };
      const expected = await fromGguf.complete('Once upon a time', options);
      expect(expected.text).toMatch(/Lily/);
      expect((await fromHf.complete('Once upon a time', options)).text).toBe(expected.text);
    } finally {
      fromHf.dispose();
      fromGguf.dispose();
    }
  });

  it('peregrine info names the architecture, says it is supported and reads the directory as its converted GGUF', () => {
    const out = new PassThrough();
    runInfo([HF], out);
    const text = String(out.read());
    expect(text).toMatch(/^architecture: {2}llama \(hf\), supported$/m);
    expect(text).toMatch(/^format: +Hugging Face directory/m);
    expect(text).toMatch(/^tensor types: +F32 ×47$/m);
  });
});
