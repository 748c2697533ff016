import type { BinaryHeap } from './binary-heap.js';

/** A candidate merge of two adjacent symbols; `size` is their combined length when queued. */
export interface MergeCandidate {
  readonly left: number;
  readonly right: number;
  readonly size: number;
}

/**
 * The merge loop shared by SentencePiece and BPE: symbols are a doubly linked list over the text
 * (`len` 0 marks a symbol merged away). Pops the best candidate, skips stale ones (a side already
 * merged, or lengths changed since it was queued), merges right into left, and offers the two new
 * neighbouring pairs through `addCandidate`.
 */
export function mergeSymbols<C extends MergeCandidate>(
  queue: BinaryHeap<C>,
  len: Int32Array,
  prev: Int32Array,
  next: Int32Array,
  addCandidate: (left: number, right: number) => void,
): void {
  while (queue.size > 0) {
    const { left, right, size } = queue.pop()!;
    if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
    len[left] = len[left]! + len[right]!;
    len[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    addCandidate(prev[left]!, left);
    addCandidate(left, next[left]!);
  }
}
