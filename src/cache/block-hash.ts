import { createHash } from 'node:crypto';

/**
 * Prefix-cache key of one full KV block: SHA-256 over the previous block's hash and this block's
 * token ids, so equal hashes mean equal prefixes, not just equal blocks. A cryptographic hash keeps
 * one tenant from crafting a collision that reads another's cached prefix (vLLM moved to SHA-256
 * for that reason).
 */
export function hashBlock(parentHash: string | undefined, tokenIds: readonly number[]): string {
  const hash = createHash('sha256');
  hash.update(parentHash ?? 'root');
  hash.update(new Uint8Array(Int32Array.from(tokenIds).buffer));
  return hash.digest('base64');
}
