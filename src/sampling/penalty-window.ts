/**
 * Occurrence counts of each token id among the last `numLastTokens` ids of one sequence's history
 * (prompt + generated), kept up to date incrementally.
 *
 * A sequence's history only grows, so each `sync` normally adds the new tokens and drops the ones
 * that slid out of the window: O(new tokens), even when the window is the whole history. If the
 * history shrank or its last synced token changed (a different or rewritten sequence), or a full
 * recount is cheaper, the window is recounted from scratch: O(window).
 */
export class PenaltyWindow {
  private readonly counts = new Map<number, number>(); // tokenId → occurrences in the window (> 0)
  private numSynced = 0; // history length at the last sync
  private lastTokenId = -1; // history[numSynced - 1] at the last sync

  /** @param numLastTokens window length in tokens; -1 = whole history, 0 = always empty */
  constructor(private readonly numLastTokens: number) {}

  /** false for a window that is always empty (no penalties to apply) */
  get isCounting(): boolean {
    return this.numLastTokens !== 0;
  }

  /** Brings the counts in line with `history` and returns them (a live view: valid until the next sync). */
  sync(history: readonly number[]): ReadonlyMap<number, number> {
    if (this.numLastTokens === 0) return this.counts;
    const numHistory = history.length;
    const oldStart = this.windowStart(this.numSynced);
    const newStart = this.windowStart(numHistory);
    const isAppendOnly =
      numHistory >= this.numSynced && (this.numSynced === 0 || history[this.numSynced - 1] === this.lastTokenId);
    const numIncrementalOps = numHistory - this.numSynced + (newStart - oldStart);
    if (isAppendOnly && numIncrementalOps <= numHistory - newStart) {
      for (let i = this.numSynced; i < numHistory; i++) this.add(history[i]!);
      for (let i = oldStart; i < newStart; i++) this.remove(history[i]!);
    } else {
      this.counts.clear();
      for (let i = newStart; i < numHistory; i++) this.add(history[i]!);
    }
    this.numSynced = numHistory;
    this.lastTokenId = numHistory > 0 ? history[numHistory - 1]! : -1;
    return this.counts;
  }

  private windowStart(numHistory: number): number {
    return this.numLastTokens < 0 ? 0 : Math.max(0, numHistory - this.numLastTokens);
  }

  private add(tokenId: number): void {
    this.counts.set(tokenId, (this.counts.get(tokenId) ?? 0) + 1);
  }

  private remove(tokenId: number): void {
    const count = this.counts.get(tokenId)! - 1;
    if (count === 0) this.counts.delete(tokenId);
    else this.counts.set(tokenId, count);
  }
}
