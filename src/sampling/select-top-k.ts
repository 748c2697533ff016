/**
 * The ids of the `k` highest logits, best first; ties go to the lower id. One pass over the vocab
 * through a size-k min-heap (most tokens cost one comparison with the heap's worst), then a sort of
 * the k survivors: O(numVocab + k log k) typically, O(numVocab log k) at worst. The vocab itself is
 * never copied or sorted. NaN logits are not supported.
 */
export function selectTopK(logits: Float32Array /* [numVocab] f32 */, k: number): Int32Array {
  const numKeep = Math.max(0, Math.min(Math.floor(k), logits.length));
  const heapIds = new Int32Array(numKeep); // [numKeep] min-heap: heapIds[0] is the worst kept token
  const heapLogits = new Float32Array(numKeep); // [numKeep] logits[heapIds[i]]
  if (numKeep === 0) return heapIds;

  buildHeap(logits, heapIds, heapLogits);
  // sorting in the caller keeps this hot loop in its own small function, which V8 optimizes reliably
  return heapIds.sort((a, b) => compareBestFirst(logits, a, b));
}

/** Sort order for candidate ids: higher logit first, then lower id. */
export function compareBestFirst(logits: Float32Array, a: number, b: number): number {
  const logitA = logits[a]!;
  const logitB = logits[b]!;
  if (logitA > logitB) return -1;
  if (logitA < logitB) return 1;
  return a - b;
}

/** Fills the min-heap with the numKeep best tokens: heapIds[0] ends up the worst of them. */
function buildHeap(
  logits: Float32Array, // [numVocab] f32
  heapIds: Int32Array, // [numKeep] out
  heapLogits: Float32Array, // [numKeep] out: logits[heapIds[i]]
): void {
  const numKeep = heapIds.length;
  for (let i = 0; i < numKeep; i++) {
    // fill: sift up
    let child = i;
    const logit = logits[i]!;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!isWorse(logit, i, heapLogits[parent]!, heapIds[parent]!)) break;
      heapIds[child] = heapIds[parent]!;
      heapLogits[child] = heapLogits[parent]!;
      child = parent;
    }
    heapIds[child] = i;
    heapLogits[child] = logit;
  }

  // every kept id is < i, so an equal logit never displaces a kept token (ties → lower id)
  let worstLogit = heapLogits[0]!;
  for (let i = findAbove(logits, numKeep, worstLogit); i >= 0; i = findAbove(logits, i + 1, worstLogit)) {
    replaceWorst(heapIds, heapLogits, i, logits[i]!);
    worstLogit = heapLogits[0]!;
  }
}

/** The first index ≥ start whose logit is > threshold, or -1. Kept tiny: this is the hot loop. */
function findAbove(logits: Float32Array, start: number, threshold: number): number {
  for (let i = start; i < logits.length; i++) if (logits[i]! > threshold) return i;
  return -1;
}

/** Replaces the heap's root (its worst token) by `tokenId` and sifts it down. */
function replaceWorst(heapIds: Int32Array, heapLogits: Float32Array, tokenId: number, logit: number): void {
  const numKeep = heapIds.length;
  let parent = 0;
  for (;;) {
    let child = 2 * parent + 1;
    if (child >= numKeep) break;
    const right = child + 1;
    if (right < numKeep && isWorse(heapLogits[right]!, heapIds[right]!, heapLogits[child]!, heapIds[child]!)) {
      child = right;
    }
    if (!isWorse(heapLogits[child]!, heapIds[child]!, logit, tokenId)) break;
    heapIds[parent] = heapIds[child]!;
    heapLogits[parent] = heapLogits[child]!;
    parent = child;
  }
  heapIds[parent] = tokenId;
  heapLogits[parent] = logit;
}

function isWorse(logitA: number, idA: number, logitB: number, idB: number): boolean {
  return logitA < logitB || (logitA === logitB && idA > idB);
}
