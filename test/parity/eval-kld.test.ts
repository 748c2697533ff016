import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/api/index.js';
import { DivergenceAccumulator, type DivergenceStatistics } from '../../src/eval/divergence-statistics.js';
import { evalWindows, numScoredPerWindow } from '../../src/eval/eval-windows.js';
import { evaluateAgainstReference } from '../../src/eval/evaluate-against-reference.js';
import { quantizeReferenceLogProbs } from '../../src/eval/reference-log-probs.js';
import { compareToken } from '../../src/eval/token-divergence.js';
import { SAMPLED_TEXT, writeNoisyCopy } from '../eval/helpers.js';
import { openLlamaCpp } from '../reference/llama-cpp.js';
import { HAS_SHARED, LLAMA_CPP_F32, STORIES_260K, tempDir } from './helpers.js';

const CONTEXT = 512;

/**
 * The statistics `llama-perplexity --kl-divergence` computes, from llama.cpp's own logits
 * (node-llama-cpp 3.21.1, all-f32 path) for the same windows: the text tokenized by llama.cpp,
 * cut as llama-perplexity cuts it, each window's second half scored.
 */
async function llamaCppStatistics(referencePath: string, modelPath: string, text: string): Promise<{ statistics: DivergenceStatistics; numTokens: number }> {
  const reference = await openLlamaCpp(referencePath, { contextSize: CONTEXT, threads: 1, ...LLAMA_CPP_F32 });
  const model = await openLlamaCpp(modelPath, { contextSize: CONTEXT, threads: 1, ...LLAMA_CPP_F32 });
  try {
    const tokens = reference.tokenize(text.replace(/\n$/, ''), { addSpecial: true });
    const acc = new DivergenceAccumulator();
    for (const w of evalWindows(tokens, CONTEXT, reference.bos ?? undefined)) {
      const positions = Array.from({ length: numScoredPerWindow(CONTEXT) }, (_, j) => w.firstScoredPosition + j);
      const referenceLogits = await reference.logits(w.tokenIds, { positions });
      const modelLogits = await model.logits(w.tokenIds, { positions });
      positions.forEach((pos, j) => acc.add(compareToken(modelLogits[j]!, quantizeReferenceLogProbs(referenceLogits[j]!), w.tokenIds[pos + 1]!)));
    }
    return { statistics: acc.summarize(), numTokens: tokens.length };
  } finally {
    await model.dispose();
    await reference.dispose();
  }
}

describe.skipIf(!HAS_SHARED)('peregrine eval against llama.cpp on stories260K (needs ../shared/models)', () => {
  const dir = tempDir('eval-kld');
  const text = readFileSync(SAMPLED_TEXT, 'utf8');
  let reference: Model;
  beforeAll(async () => {
    reference = await loadModel(STORIES_260K, { contextSize: CONTEXT, kvCacheType: 'f32', threads: 1 });
  });
  afterAll(() => reference?.dispose());

  it.each([['output.weight with 30% noise', () => writeNoisyCopy(STORIES_260K, join(dir, 'noisy.gguf'), 0.3)]])(
    '%s vs F32: the statistics from our logits match those from llama.cpp\'s',
    async (_, makeModel) => {
      const path = makeModel();
      using model = await loadModel(path, { contextSize: CONTEXT, kvCacheType: 'f32', threads: 1 });
      const ours = await evaluateAgainstReference(reference, [model], text, { contextSize: CONTEXT });
      const theirs = await llamaCppStatistics(STORIES_260K, path, text);
      const a = ours.statistics[0]!;
      const b = theirs.statistics;
      console.log(JSON.stringify({ ours: [a.ppl, a.pplReference, a.kld.mean, a.sameTop, a.deltaP.rms, a.kld.quantiles], llamaCpp: [b.ppl, b.pplReference, b.kld.mean, b.sameTop, b.deltaP.rms, b.kld.quantiles] }));
      expect(ours.numTextTokens).toBe(theirs.numTokens);
      expect(a.numTokens).toBe(b.numTokens);
    },
  );
});
