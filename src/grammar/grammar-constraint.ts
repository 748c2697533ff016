import { invariant } from '../errors/engine-error.js';
import { Automaton, DEAD } from './automaton.js';
import type { ByteProgram } from './byte-program.js';
import type { CompiledConstraint, TokenConstraint } from './token-constraint.js';
import { TOKEN_END, TOKEN_TEXT, type TokenTrie } from './token-trie.js';

/** Automaton size (nodes + states·64) after which new requests start on a fresh automaton. */
const MAX_AUTOMATON_SIZE = 1 << 20;
/** bytes of cached masks per compiled grammar (a dense mask is vocabSize / 8 bytes: 16 KB at 128K tokens) */
const MAX_CACHED_MASK_BYTES = 32 << 20;

/** A cached mask: a bitset, or (when few tokens are allowed, as at most places in a JSON document) their ids. */
type CachedMask = Uint32Array | { readonly ids: Int32Array };

/**
 * A grammar compiled against one vocabulary: the lazily determinized automaton and the token mask
 * of every automaton state met so far, shared by every request with the same spec. A state's mask
 * is computed once by walking the vocabulary's byte trie through the automaton's transitions,
 * pruning every subtree whose prefix is dead; later requests (and later steps inside a string, whose
 * state repeats) copy it.
 */
export class CompiledGrammar implements CompiledConstraint {
  automaton: Automaton;
  private masks = new Map<number, CachedMask>();
  private maskBytes = 0;
  /** per local state: its mask and the trie nodes whose walk reached the hole */
  private locals = new Map<number, { mask: Uint32Array; dependent: number[] }>();
  private readonly words: number;
  private readonly walkStates: Int32Array;

  constructor(
    readonly program: ByteProgram,
    readonly trie: TokenTrie,
  ) {
    this.automaton = new Automaton(program);
    this.words = Math.ceil(trie.vocabSize / 32);
    this.walkStates = new Int32Array(trie.maxDepth + 1);
  }

  create(): TokenConstraint {
    if (this.automaton.size > MAX_AUTOMATON_SIZE) this.retire();
    return new GrammarConstraint(this, this.automaton, this.automaton.initial);
  }

  /**
   * Starts a fresh automaton (and mask caches) for new requests; requests under way move their
   * state onto it at their next step. Memory stays bounded however many states requests visit.
   */
  retire(): void {
    this.automaton = new Automaton(this.program);
    this.masks = new Map();
    this.maskBytes = 0;
    this.locals = new Map();
  }

  /** writes the text-token mask of `state` (end-of-generation bits clear) into `out` */
  fillTextMask(automaton: Automaton, state: number, out: Uint32Array): void {
    const current = automaton === this.automaton;
    let cached = current ? this.masks.get(state) : undefined;
    if (!cached) {
      const mask = this.computeMask(automaton, state);
      cached = compact(mask);
      if (current) {
        const bytes = cached instanceof Uint32Array ? cached.byteLength : cached.ids.byteLength;
        if (this.maskBytes + bytes > MAX_CACHED_MASK_BYTES) {
          this.masks.clear();
          this.locals.clear();
          this.maskBytes = 0;
        }
        this.masks.set(state, cached);
        this.maskBytes += bytes;
      }
    }
    if (cached instanceof Uint32Array) out.set(cached);
    else {
      out.fill(0);
      for (const t of cached.ids) out[t >>> 5]! |= 1 << (t & 31);
    }
  }

  /**
   * The mask of the local state (automaton.localState), shared by every state with that local
   * state, plus the tokens under each trie node where the local walk returned into the hole,
   * walked again from the real state.
   */
  private computeMask(automaton: Automaton, state: number): Uint32Array {
    if (automaton.isFinal(state)) return new Uint32Array(this.words);
    const local = automaton.localState(state, this.trie.maxDepth);
    if (local === state) return this.walk(automaton, state, 0, this.trie.nodeCount, undefined);
    const current = automaton === this.automaton;
    let entry = current ? this.locals.get(local) : undefined;
    if (!entry) {
      const dependent: number[] = [];
      entry = { mask: this.walk(automaton, local, 0, this.trie.nodeCount, dependent), dependent };
      if (current) this.locals.set(local, entry);
    }
    const mask = entry.mask.slice();
    const { parent, byte, depth, end } = this.trie;
    const path: number[] = [];
    for (const root of entry.dependent) {
      // the state after the bytes above `root`
      path.length = 0;
      for (let p = parent[root]!; p >= 0; p = parent[p]!) path.push(byte[p]!);
      let s = state;
      for (let k = path.length - 1; k >= 0 && s !== DEAD; k--) s = automaton.next(s, path[k]!);
      if (s === DEAD) continue;
      this.walkStates[depth[root]! - 1] = s;
      this.walkInto(automaton, mask, root, end[root]!, undefined);
    }
    return mask;
  }

  private walk(automaton: Automaton, state: number, from: number, to: number, dependent: number[] | undefined): Uint32Array {
    const mask = new Uint32Array(this.words);
    this.walkStates[0] = state;
    this.walkInto(automaton, mask, from, to, dependent);
    return mask;
  }

  /**
   * Sets the bits of the tokens in trie nodes [from, to) that the automaton accepts, starting from
   * walkStates[depth[from] - 1]. With `dependent`, a node whose state fell into the hole is
   * recorded there and its subtree skipped.
   */
  private walkInto(automaton: Automaton, mask: Uint32Array, from: number, to: number, dependent: number[] | undefined): void {
    const { byte, depth, end, tokenStart, tokens } = this.trie;
    const at = this.walkStates;
    let transitions = automaton.transitions;
    let holes = automaton.holeFlags;
    const checkHoles = dependent !== undefined;
    let i = from;
    while (i < to) {
      const d = depth[i]!;
      let next = transitions[at[d - 1]! * 256 + byte[i]!]!;
      if (next < 0) {
        if (next !== DEAD) {
          next = automaton.computeTransition(at[d - 1]!, byte[i]!);
          transitions = automaton.transitions;
          holes = automaton.holeFlags;
        }
        if (next === DEAD) {
          i = end[i]!;
          continue;
        }
      }
      if (checkHoles && holes[next] === 1) {
        dependent.push(i);
        i = end[i]!;
        continue;
      }
      at[d] = next;
      for (let k = tokenStart[i]!, stop = tokenStart[i + 1]!; k < stop; k++) {
        const t = tokens[k]!;
        mask[t >>> 5]! |= 1 << (t & 31);
      }
      i++;
    }
  }
}

class GrammarConstraint implements TokenConstraint {
  private ended = false;
  constructor(
    private readonly compiled: CompiledGrammar,
    private automaton: Automaton,
    private state: number,
  ) {}

  get canEnd(): boolean {
    return !this.ended && this.automaton.canEnd(this.state);
  }

  get mustEnd(): boolean {
    return this.ended || this.automaton.isFinal(this.state);
  }

  fillAllowedMask(mask: Uint32Array): void {
    invariant(!this.ended, 'fillAllowedMask after the end of generation');
    this.migrate();
    this.compiled.fillTextMask(this.automaton, this.state, mask);
    if (this.automaton.canEnd(this.state)) {
      for (const t of this.compiled.trie.endOfGeneration) mask[t >>> 5]! |= 1 << (t & 31);
    }
  }

  acceptToken(tokenId: number): void {
    invariant(!this.ended, 'acceptToken after the end of generation');
    const trie = this.compiled.trie;
    invariant(tokenId >= 0 && tokenId < trie.vocabSize, `token ${tokenId} out of range`);
    const kind = trie.kind[tokenId];
    if (kind === TOKEN_END) {
      invariant(this.automaton.canEnd(this.state), `end-of-generation token ${tokenId} before the match is complete`);
      this.ended = true;
      return;
    }
    invariant(kind === TOKEN_TEXT, `token ${tokenId} (control or empty) is never allowed`);
    this.migrate();
    let s = this.state;
    for (const b of trie.tokenBytes[tokenId]!) {
      s = this.automaton.next(s, b);
      invariant(s !== DEAD, `token ${tokenId} is not allowed by the grammar here`);
    }
    this.state = s;
  }

  /** The bytes a token would add are viable: for tests and callers that check one token. */
  allows(tokenId: number): boolean {
    const trie = this.compiled.trie;
    if (trie.kind[tokenId] === TOKEN_END) return this.canEnd;
    if (trie.kind[tokenId] !== TOKEN_TEXT || this.ended) return false;
    let s = this.state;
    for (const b of trie.tokenBytes[tokenId]!) {
      s = this.automaton.next(s, b);
      if (s === DEAD) return false;
    }
    return true;
  }

  dispose(): void {
    this.ended = true;
  }

  /** moves onto the compiled grammar's current automaton once the old one was retired for size */
  private migrate(): void {
    const current = this.compiled.automaton;
    if (current !== this.automaton) {
      this.state = current.adopt(this.automaton, this.state);
      this.automaton = current;
    }
  }
}

/** the ids of the set bits when there are fewer of them than words in the bitset, else the bitset */
function compact(mask: Uint32Array): CachedMask {
  let count = 0;
  for (let w = 0; w < mask.length && count < mask.length; w++) {
    for (let x = mask[w]!; x !== 0 && count < mask.length; x &= x - 1) count++;
  }
  if (count >= mask.length) return mask;
  const ids = new Int32Array(count);
  let k = 0;
  for (let w = 0; w < mask.length; w++) {
    for (let x = mask[w]!; x !== 0; x &= x - 1) ids[k++] = w * 32 + (31 - Math.clz32(x & -x));
  }
  return { ids };
}
