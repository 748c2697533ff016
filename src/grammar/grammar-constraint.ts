import { invariant } from '../errors/engine-error.js';
import { Automaton, DEAD } from './automaton.js';
import type { ByteProgram } from './byte-program.js';
import type { CompiledConstraint, TokenConstraint } from './token-constraint.js';
import { TOKEN_END, TOKEN_TEXT, type TokenTrie } from './token-trie.js';

/** Automaton size (nodes + states·64) after which new requests start on a fresh automaton. */
const MAX_AUTOMATON_SIZE = 1 << 21;
/** masks kept per automaton (each vocabSize / 8 bytes: 16 KB at 128K tokens) */
const MAX_CACHED_MASKS = 4096;

/**
 * A grammar compiled against one vocabulary: the lazily determinized automaton and the token mask
 * of every automaton state met so far, shared by every request with the same spec. A state's mask
 * is computed once by walking the vocabulary's byte trie through the automaton's transitions,
 * pruning every subtree whose prefix is dead; later requests (and later steps inside a string, whose
 * state repeats) copy it.
 */
export class CompiledGrammar implements CompiledConstraint {
  automaton: Automaton;
  private masks = new Map<number, Uint32Array>();
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
    if (this.automaton.size > MAX_AUTOMATON_SIZE) {
      this.automaton = new Automaton(this.program);
      this.masks = new Map();
    }
    return new GrammarConstraint(this, this.automaton, this.automaton.initial);
  }

  /** the text-token mask of `state` (end-of-generation bits not set) */
  textMask(automaton: Automaton, state: number): Uint32Array {
    const cached = automaton === this.automaton ? this.masks.get(state) : undefined;
    if (cached) return cached;
    const mask = this.walk(automaton, state);
    if (automaton === this.automaton) {
      if (this.masks.size >= MAX_CACHED_MASKS) this.masks.clear();
      this.masks.set(state, mask);
    }
    return mask;
  }

  private walk(automaton: Automaton, state: number): Uint32Array {
    const mask = new Uint32Array(this.words);
    if (automaton.isFinal(state)) return mask;
    const { byte, depth, end, tokenStart, tokens, nodeCount } = this.trie;
    const at = this.walkStates;
    at[0] = state;
    let transitions = automaton.transitions;
    let i = 0;
    while (i < nodeCount) {
      const d = depth[i]!;
      const from = at[d - 1]!;
      let next = transitions[from * 256 + byte[i]!]!;
      if (next === -2) {
        next = automaton.computeTransition(from, byte[i]!);
        transitions = automaton.transitions;
      }
      if (next === DEAD) {
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
    return mask;
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
    mask.set(this.compiled.textMask(this.automaton, this.state));
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
