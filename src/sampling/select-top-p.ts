import { compareBestFirst } from './select-top-k.js';

const NUM_BUCKETS = 1024;
const LEVEL1_BUCKETS_PER_NAT = 32; // level 1 covers maxLogit - logit in [0, 32) nats; the last bucket takes the rest
const MAX_SORTED_BOUNDARY = 256; // a boundary bucket this small is sorted rather than split again

/**
 * The top-p nucleus over the whole vocab: the smallest set of highest-logit tokens (ties → lower id)
 * whose softmax probability sums to ≥ topP (the token that crosses topP is kept, as in llama.cpp),
 * restricted to the tokens with logit ≥ minLogit (min-p, which cuts the same order). The result is
 * in a deterministic order but not sorted; the cut is exact up to float64 rounding of the sums.
 *
 * Sorting the vocab would cost ~30 ms at 128k tokens, so tokens are bucketed by their distance
 * below maxLogit (1/32 nat per bucket) while the softmax mass is summed. Every bucket before the one
 * where the running mass reaches topP is wholly inside the nucleus; only that boundary bucket needs
 * ordering, and it is split again with 1024× finer buckets until it is small, then sorted. Peaked
 * and flat distributions both cost a few passes over the vocab.
 */
export function selectTopP(
  logits: Float32Array, // [numVocab] f32
  maxLogit: number, // max of logits, finite
  topP: number, // in (0, 1]
  minLogit: number, // -Infinity when min-p is off
): Int32Array {
  const bucketMass = new Float64Array(NUM_BUCKETS); // Σ exp(logit - maxLogit) per bucket
  const bucketCount = new Int32Array(NUM_BUCKETS);
  const insideParts: Int32Array[] = []; // ids known to be in the nucleus (and ≥ minLogit)

  let bucketsPerNat = LEVEL1_BUCKETS_PER_NAT;
  let distanceLo = 0; // distance below maxLogit where bucket 0 starts
  let candidates: Int32Array | null = null; // null = the whole vocab; else ids in ascending order
  let massBefore = 0; // mass of every token already known to be in the nucleus
  let targetMass = 0;
  for (let level = 1; ; level++) {
    bucketMass.fill(0);
    bucketCount.fill(0);
    histogram(logits, candidates, maxLogit, distanceLo, bucketsPerNat, bucketMass, bucketCount);
    if (level === 1) {
      let totalMass = 0;
      for (let b = 0; b < NUM_BUCKETS; b++) totalMass += bucketMass[b]!;
      targetMass = topP * totalMass;
    }

    // the boundary bucket: the first where the running mass reaches the target
    let boundary = 0;
    let numInside = 0;
    while (boundary < NUM_BUCKETS - 1 && massBefore + bucketMass[boundary]! < targetMass) {
      massBefore += bucketMass[boundary]!;
      numInside += bucketCount[boundary]!;
      boundary++;
    }

    const inside = new Int32Array(numInside); // [numInside] ascending ids; the first numInsideKept are ≥ minLogit
    const next = new Int32Array(bucketCount[boundary]!); // [tokens in the boundary bucket] ascending ids
    const numInsideKept = partition(logits, candidates, maxLogit, distanceLo, bucketsPerNat, boundary, minLogit, inside, next);
    insideParts.push(inside.subarray(0, numInsideKept));

    const didShrink = candidates === null || next.length < candidates.length;
    candidates = next;
    if (next.length <= MAX_SORTED_BOUNDARY || !didShrink || areAllEqual(logits, next)) break;
    distanceLo += boundary / bucketsPerNat;
    bucketsPerNat *= NUM_BUCKETS;
  }

  // Order the boundary tokens (ascending ids are already best-first when their logits are equal) and
  // keep them until the running mass reaches the target.
  const sorted = areAllEqual(logits, candidates) ? candidates : candidates.sort((a, b) => compareBestFirst(logits, a, b));
  let numBoundaryKept = sorted.length;
  let runningMass = massBefore;
  for (let i = 0; i < sorted.length; i++) {
    runningMass += Math.exp(logits[sorted[i]!]! - maxLogit);
    if (runningMass >= targetMass) {
      numBoundaryKept = i + 1;
      break;
    }
  }
  const boundaryKept = sorted.subarray(0, numBoundaryKept).filter((tokenId) => logits[tokenId]! >= minLogit);
  insideParts.push(boundaryKept);
  return concat(insideParts);
}

/**
 * The shortest prefix of `sortedIds` (best first) whose mass Σ exp(logit - maxLogit) reaches
 * topP × totalMass, i.e. whose probability reaches topP (the crossing token is kept, as in
 * llama.cpp). All of `sortedIds` if the prefix never gets there.
 */
export function cutToTopP(
  logits: Float32Array, // [numVocab] f32
  sortedIds: Int32Array, // [numCandidates] best first
  topP: number,
  totalMass: number, // Σ exp(logit - maxLogit) over the distribution being truncated
  maxLogit: number,
): Int32Array {
  const targetMass = topP * totalMass;
  let runningMass = 0;
  for (let i = 0; i < sortedIds.length; i++) {
    runningMass += Math.exp(logits[sortedIds[i]!]! - maxLogit);
    if (runningMass >= targetMass) return sortedIds.subarray(0, i + 1);
  }
  return sortedIds;
}

function histogram(
  logits: Float32Array, // [numVocab] f32
  candidates: Int32Array | null, // null = every token
  maxLogit: number,
  distanceLo: number,
  bucketsPerNat: number,
  bucketMass: Float64Array, // [NUM_BUCKETS] accumulated into
  bucketCount: Int32Array, // [NUM_BUCKETS] accumulated into
): void {
  const numCandidates = candidates === null ? logits.length : candidates.length;
  for (let j = 0; j < numCandidates; j++) {
    const logit = logits[candidates === null ? j : candidates[j]!]!;
    const bucket = bucketOf(maxLogit - logit, distanceLo, bucketsPerNat);
    bucketMass[bucket] += Math.exp(logit - maxLogit);
    bucketCount[bucket]++;
  }
}

/**
 * Splits the candidates around the boundary bucket: those before it with logit ≥ minLogit go to
 * `inside` (returns how many), those in it go to `next`; both keep ascending id order.
 */
function partition(
  logits: Float32Array, // [numVocab] f32
  candidates: Int32Array | null, // null = every token
  maxLogit: number,
  distanceLo: number,
  bucketsPerNat: number,
  boundary: number,
  minLogit: number,
  inside: Int32Array, // out
  next: Int32Array, // out, exactly the boundary bucket's size
): number {
  let numInside = 0;
  let numNext = 0;
  const numCandidates = candidates === null ? logits.length : candidates.length;
  for (let j = 0; j < numCandidates; j++) {
    const tokenId = candidates === null ? j : candidates[j]!;
    const logit = logits[tokenId]!;
    const bucket = bucketOf(maxLogit - logit, distanceLo, bucketsPerNat);
    if (bucket < boundary) {
      if (logit >= minLogit) inside[numInside++] = tokenId;
    } else if (bucket === boundary) {
      next[numNext++] = tokenId;
    }
  }
  return numInside;
}

/** distance below the max logit (≥ 0, Infinity for -Infinity logits) → bucket, clamped to the range */
function bucketOf(distance: number, distanceLo: number, bucketsPerNat: number): number {
  const scaled = (distance - distanceLo) * bucketsPerNat;
  if (!(scaled > 0)) return 0;
  return scaled < NUM_BUCKETS ? Math.floor(scaled) : NUM_BUCKETS - 1;
}

function areAllEqual(logits: Float32Array, ids: Int32Array): boolean {
  for (let i = 1; i < ids.length; i++) if (logits[ids[i]!] !== logits[ids[0]!]) return false;
  return true;
}

function concat(parts: readonly Int32Array[]): Int32Array {
  let numIds = 0;
  for (const part of parts) numIds += part.length;
  const ids = new Int32Array(numIds);
  let offset = 0;
  for (const part of parts) {
    ids.set(part, offset);
    offset += part.length;
  }
  return ids;
}
