import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../../src/formats/gguf/index.js';
import { readHfDirectory } from '../../src/formats/hf/hf-directory.js';
import { ReferenceBackend } from '../../src/kernels/reference/reference-backend.js';
import { createModel } from '../../src/models/registry.js';
import { evaluateLogits } from '../../src/runner/evaluate-logits.js';
import { writeHfTwin } from '../../src/testing/hf-twin.js';
import type { ModelShapeName } from '../../src/testing/model-shapes.js';
import { writeSyntheticModel, type SyntheticWeightType } from '../../src/testing/synthetic-model.js';
import { maxRelativeError } from '../../src/testing/relative-error.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-hf-twin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each architecture's tiny synthetic model, written as GGUF and as its Hugging Face twin. */
const CASES: { shape: ModelShapeName; weightType: SyntheticWeightType; shards?: number; what: string }[] = [
  { shape: 'tiny-llama3', weightType: 'F32', what: 'GQA 4:1, llama3 rope_scaling → rope_freqs, tied, Q/K permuted' },
  { shape: 'tiny', weightType: 'F16', shards: 3, what: 'untied lm_head, F16, three shards with an index' },
  { shape: 'tiny-qwen2', weightType: 'F32', what: 'q/k/v biases, NEOX rope' },
  { shape: 'tiny-qwen3', weightType: 'BF16', what: 'q/k norms, head_dim 128 over hidden 256, untied, BF16' },
  { shape: 'tiny-gemma2', weightType: 'F32', what: 'norms stored as w (GGUF: 1 + w), soft-caps, sliding window' },
  { shape: 'tiny-gemma3', weightType: 'F32', what: 'q/k norms + 1, 5:1 local/global, linear rope scaling' },
  { shape: 'tiny-phi3', weightType: 'F32', what: 'fused qkv and gate_up, partial rotary, LongRoPE factors from rope_scaling' },
];

describe('a Hugging Face directory gives the logits of the GGUF converted from it', () => {
  const backend = new ReferenceBackend();
  for (const c of CASES) {
    it(`${c.shape} (${c.what})`, () => {
      const ggufPath = join(dir, `${c.shape}.gguf`);
      const hfDir = join(dir, c.shape);
      const { shape } = writeSyntheticModel(ggufPath, { shape: c.shape, weightType: c.weightType, seed: 11 });
      writeHfTwin(ggufPath, shape, hfDir, { shards: c.shards });
      const fromGguf = createModel(readGguf(ggufPath), backend);
      const hf = readHfDirectory(hfDir);
      const fromHf = createModel(hf, backend);
      expect(fromHf.config).toEqual(fromGguf.config);
      const prompt = Array.from({ length: 10 }, (_, i) => (i * 37 + 5) % shape.vocabSize);
      const expected = evaluateLogits(fromGguf, prompt, 'f32');
      const actual = evaluateLogits(fromHf, prompt, 'f32');
      let worst = 0;
      for (let i = 0; i < prompt.length; i++) worst = Math.max(worst, maxRelativeError(actual[i]!, expected[i]!));
      expect(worst).toBeLessThan(1e-5);
    });
  }
});
