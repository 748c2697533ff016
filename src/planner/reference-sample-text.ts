import { loadModel } from '../engine/loaded-model.js';
import type { LoadModelOptions } from '../engine/model.js';

/** Streams sampled for the default gate text: enough for about three windows. */
const NUM_SAMPLE_STREAMS = 3;

/**
 * The gate's text when none is given: the reference's own writing, NUM_SAMPLE_STREAMS streams of
 * `windowTokens` tokens (fewer if its context is shorter) sampled from BOS (a newline without one) at temperature 1 with
 * seeds 0, 1, 2, joined by newlines; reproducible for a given file. Scoring a quantized model on
 * text the reference finds likely is what test/eval/stories260k-sampled.txt does for the eval tests;
 * a real corpus (--text) says more about the language the model will see.
 */
export async function sampleReferenceText(referencePath: string, windowTokens: number, loadOptions: LoadModelOptions): Promise<string> {
  using model = await loadModel(referencePath, loadOptions);
  const maxTokens = Math.min(windowTokens, model.contextSize - 1);
  const bosId = model.tokenizer.bosId;
  const prompt = bosId !== undefined ? [bosId] : '\n'; // a vocabulary without BOS starts from a newline
  const streams = await Promise.all(
    Array.from({ length: NUM_SAMPLE_STREAMS }, (_, seed) => model.complete(prompt, { maxTokens, temperature: 1, seed, ignoreEos: true })),
  );
  return streams.map((s) => s.text).join('\n');
}
