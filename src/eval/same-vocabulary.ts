import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import type { Model } from '../engine/model.js';

/**
 * Throws InvalidRequestError 'VOCAB_MISMATCH' unless `model` reads the reference's token ids as
 * the reference does: the same number of tokens (and of logits), the same text for every token,
 * the same BOS and whether it is added. (llama.cpp's --kl-divergence only compares the counts;
 * two vocabularies of one size with other tokens would give a meaningless divergence.)
 */
export function checkSameVocabulary(model: Model, reference: Model): void {
  const mismatch = (what: string): never => {
    throw new InvalidRequestError('VOCAB_MISMATCH', `${untrustedPath(model.path)} and the reference ${untrustedPath(reference.path)} have different vocabularies: ${what}`);
  };
  const a = model.tokenizer;
  const b = reference.tokenizer;
  if (a.vocabSize !== b.vocabSize) mismatch(`${a.vocabSize} tokens vs ${b.vocabSize}`);
  if (model.config.vocabSize !== reference.config.vocabSize) {
    mismatch(`${model.config.vocabSize} logits per token vs ${reference.config.vocabSize}`);
  }
  for (let id = 0; id < a.vocabSize; id++) {
    if (a.tokenText(id) !== b.tokenText(id)) mismatch(`token ${id} is ${untrustedText(a.tokenText(id), 40)} vs ${untrustedText(b.tokenText(id), 40)}`);
  }
  if (a.bosId !== b.bosId || a.addBos !== b.addBos) mismatch(`BOS ${a.bosId ?? 'none'} (added: ${a.addBos}) vs ${b.bosId ?? 'none'} (added: ${b.addBos})`);
}
