import type { Tokenizer } from '../tokenizer/tokenizer.js';

/**
 * Every token that can carry text (not control, not end-of-generation, at least one byte), as a
 * byte trie flattened in preorder: node i has `byte[i]` at `depth[i]` (1 = first byte), its subtree
 * is i..end[i)-1, and tokens[tokenStart[i] .. tokenStart[i + 1]) end exactly at it. A walk that
 * finds a prefix dead jumps to end[i], skipping every token that starts with it.
 */
export interface TokenTrie {
  readonly vocabSize: number;
  readonly nodeCount: number;
  readonly byte: Uint8Array;
  readonly depth: Uint16Array;
  readonly end: Int32Array;
  /** the node above (-1 at depth 1) */
  readonly parent: Int32Array;
  readonly tokenStart: Int32Array;
  readonly tokens: Int32Array;
  readonly maxDepth: number;
  /** end-of-generation tokens: allowed exactly when the match is complete */
  readonly endOfGeneration: Int32Array;
  /** per token: its bytes (empty for tokens not in the trie) */
  readonly tokenBytes: readonly Uint8Array[];
  /** per token: 0 text, 1 end-of-generation, 2 never allowed (control or no bytes) */
  readonly kind: Uint8Array;
}

export const TOKEN_TEXT = 0;
export const TOKEN_END = 1;
export const TOKEN_NEVER = 2;

const cache = new WeakMap<Tokenizer, TokenTrie>();

/** The trie of `tokenizer`'s vocabulary, built once per tokenizer. */
export function tokenTrie(tokenizer: Tokenizer): TokenTrie {
  let trie = cache.get(tokenizer);
  if (!trie) {
    trie = buildTokenTrie(tokenizer);
    cache.set(tokenizer, trie);
  }
  return trie;
}

export function buildTokenTrie(tokenizer: Pick<Tokenizer, 'vocabSize' | 'tokenBytes' | 'isEndOfGeneration' | 'isControl'>): TokenTrie {
  const n = tokenizer.vocabSize;
  const kind = new Uint8Array(n);
  const tokenBytes: Uint8Array[] = new Array(n);
  const text: number[] = [];
  const eog: number[] = [];
  const empty = new Uint8Array(0);
  for (let id = 0; id < n; id++) {
    if (tokenizer.isEndOfGeneration(id)) {
      kind[id] = TOKEN_END;
      eog.push(id);
      tokenBytes[id] = empty;
      continue;
    }
    const bytes = tokenizer.isControl(id) ? empty : tokenizer.tokenBytes(id);
    tokenBytes[id] = bytes;
    if (bytes.length === 0) kind[id] = TOKEN_NEVER;
    else text.push(id);
  }
  // latin1 strings compare code unit by code unit: byte order
  const keyed = text.map((id) => ({ id, key: String.fromCharCode(...tokenBytes[id]!) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id));
  for (let i = 0; i < keyed.length; i++) text[i] = keyed[i]!.id;

  const byte: number[] = [];
  const depth: number[] = [];
  const end: number[] = [];
  const parent: number[] = [];
  const tokenStart: number[] = [];
  const tokens: number[] = [];
  const open: number[] = []; // open[d - 1] = node at depth d on the current path
  let prev: Uint8Array = empty;
  let maxDepth = 0;
  for (const id of text) {
    const bytes = tokenBytes[id]!;
    let common = 0;
    while (common < prev.length && common < bytes.length && prev[common] === bytes[common]) common++;
    while (open.length > common) end[open.pop()!] = byte.length;
    for (let d = common; d < bytes.length; d++) {
      parent.push(d === 0 ? -1 : open[d - 1]!);
      open.push(byte.length);
      byte.push(bytes[d]!);
      depth.push(d + 1);
      end.push(0);
      tokenStart.push(tokens.length);
    }
    tokens.push(id);
    maxDepth = Math.max(maxDepth, bytes.length);
    prev = bytes;
  }
  while (open.length > 0) end[open.pop()!] = byte.length;
  tokenStart.push(tokens.length);
  // tokenStart[i] was recorded when node i was created; tokens ending at i were pushed before node i + 1
  return {
    vocabSize: n,
    nodeCount: byte.length,
    byte: Uint8Array.from(byte),
    depth: Uint16Array.from(depth),
    end: Int32Array.from(end),
    parent: Int32Array.from(parent),
    tokenStart: Int32Array.from(tokenStart),
    tokens: Int32Array.from(tokens),
    maxDepth,
    endOfGeneration: Int32Array.from(eog),
    tokenBytes,
    kind,
  };
}
