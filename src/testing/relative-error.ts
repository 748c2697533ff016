/**
 * max |a - b| / max |b| over every entry: how far `a` is from the reference `b`, relative to b's
 * largest magnitude. A NaN in either makes it NaN, which fails any bound a test compares it with.
 * (test/parity/helpers.ts has a variant that skips the reference's non-finite logits.)
 */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}
