import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { cutToTopP, selectTopP } from './select-top-p.js';

/** Sort everything, cut at the first running probability ≥ topP, then drop tokens below minLogit. */
function referenceTopP(logits: Float32Array, topP: number, minLogit: number): number[] {
  let maxLogit = -Infinity;
  for (const logit of logits) maxLogit = Math.max(maxLogit, logit);
  let totalMass = 0;
  for (const logit of logits) totalMass += Math.exp(logit - maxLogit);
  const ids = Array.from(logits.keys());
  ids.sort((a, b) => (logits[b]! > logits[a]! ? 1 : logits[b]! < logits[a]! ? -1 : a - b));
  const kept: number[] = [];
  let runningMass = 0;
  for (const id of ids) {
    kept.push(id);
    runningMass += Math.exp(logits[id]! - maxLogit);
    if (runningMass >= topP * totalMass) break;
  }
  return kept.filter((id) => logits[id]! >= minLogit).sort((a, b) => a - b);
}

function maxOf(logits: Float32Array): number {
  return logits.reduce((a, b) => Math.max(a, b), -Infinity);
}

describe('selectTopP', () => {
  const rng = new Rng(5);
  const numVocab = 20000;
  const distributions: Array<[name: string, logits: Float32Array]> = [
    ['gaussian σ=1', Float32Array.from({ length: numVocab }, () => rng.gaussian())],
    ['gaussian σ=3', Float32Array.from({ length: numVocab }, () => rng.gaussian() * 3)],
    ['gaussian σ=10', Float32Array.from({ length: numVocab }, () => rng.gaussian() * 10)],
    ['nearly flat', Float32Array.from({ length: numVocab }, () => rng.next() * 1e-3)],
    ['flat to float resolution', Float32Array.from({ length: numVocab }, () => 10 + rng.next() * 1e-5)],
    ['all equal', new Float32Array(numVocab).fill(2)],
    ['integer ties', Float32Array.from({ length: numVocab }, () => Math.floor(rng.next() * 6))],
    ['peaked', Float32Array.from({ length: numVocab }, (_, i) => (i % 997 === 3 ? 15 - (i % 7) : rng.gaussian()))],
    ['long tail with -Infinity', Float32Array.from({ length: numVocab }, (_, i) => (i % 4 === 0 ? -Infinity : -i / 100))],
  ];
  for (const [name, logits] of distributions) {
    for (const topP of [0.05, 0.5, 0.9, 0.99, 0.9999]) {
      it(`${name}, topP=${topP}: the minimal nucleus`, () => {
        const maxLogit = maxOf(logits);
        const got = Array.from(selectTopP(logits, maxLogit, topP, -Infinity)).sort((a, b) => a - b);
        expect(got).toEqual(referenceTopP(logits, topP, -Infinity));
      });
    }
    it(`${name}: min-p cuts the nucleus further`, () => {
      const maxLogit = maxOf(logits);
      const minLogit = maxLogit + Math.log(0.3);
      const got = Array.from(selectTopP(logits, maxLogit, 0.95, minLogit)).sort((a, b) => a - b);
      expect(got).toEqual(referenceTopP(logits, 0.95, minLogit));
    });
  }

  it('keeps the token that crosses topP (probabilities 0.5, 0.3, 0.15, 0.05)', () => {
    const logits = Float32Array.from([0.15, 0.5, 0.05, 0.3], Math.log);
    const nucleus = (topP: number): number[] => Array.from(selectTopP(logits, maxOf(logits), topP, -Infinity)).sort();
    expect(nucleus(0.4)).toEqual([1]);
    expect(nucleus(0.75)).toEqual([1, 3]);
    expect(nucleus(0.85)).toEqual([0, 1, 3]);
    expect(nucleus(0.97)).toEqual([0, 1, 2, 3]);
  });
});

describe('cutToTopP', () => {
  it('keeps the shortest best-first prefix whose probability reaches topP', () => {
    const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05], Math.log);
    const ids = Int32Array.from([0, 1, 2, 3]);
    const maxLogit = logits[0]!;
    const totalMass = Array.from(logits).reduce((sum, logit) => sum + Math.exp(logit - maxLogit), 0);
    expect(Array.from(cutToTopP(logits, ids, 0.45, totalMass, maxLogit))).toEqual([0]);
    expect(Array.from(cutToTopP(logits, ids, 0.79, totalMass, maxLogit))).toEqual([0, 1]);
    expect(Array.from(cutToTopP(logits, ids, 0.9, totalMass, maxLogit))).toEqual([0, 1, 2]);
    expect(Array.from(cutToTopP(logits, ids, 1, totalMass * 2, maxLogit))).toEqual([0, 1, 2, 3]);
  });
});
