import { InvalidRequestError } from '../errors/engine-error.js';
import { Op, type ByteProgram } from './byte-program.js';
import { GRAMMAR_LIMITS } from './limits.js';

/** (position, parent) pairs one closure may visit: far more than maxStacksPerState allows to keep, so it only stops blow-ups early */
const MAX_CLOSURE_STEPS = GRAMMAR_LIMITS.maxStacksPerState * 16;

function tooAmbiguous(): InvalidRequestError {
  return new InvalidRequestError('INVALID_ARGUMENT', `grammar too ambiguous: a matcher state exceeds the limit of ${GRAMMAR_LIMITS.maxStacksPerState} stacks`);
}

/** transition not computed yet */
const UNKNOWN = -2;
/** no stack can take the byte */
export const DEAD = -1;

/**
 * The grammar's pushdown automaton over bytes (llama.cpp's stack-set approach), determinized lazily:
 * a state is the set of the matcher's stacks, each stack a chain of interned nodes (position,
 * parent), its top a position that consumes a byte. States are interned, so equal stack sets are one
 * state id, and byte transitions are computed once per (state, byte) and kept in a flat table; the
 * token mask walks that table. Calls to rules in tail position do not push (a right-recursive loop
 * such as a string's characters keeps one stack), and the stack depth is bounded
 * (GRAMMAR_LIMITS.maxStackDepth: deeper nesting is not matched).
 */
export class Automaton {
  private nodePos = new Int32Array(1024);
  private nodeParent = new Int32Array(1024);
  private nodeDepth = new Int32Array(1024);
  private nodeCount = 0;
  private readonly nodeIds = new Map<number, number>();
  private readonly positions: number;

  /** each state's stacks (node ids, sorted) */
  private readonly stacks: Int32Array[] = [];
  /** each state: the stack set includes the empty stack (the input so far is a complete match) */
  private readonly accepting: boolean[] = [];
  private readonly stateIds = new Map<string, number>();
  /** per state: 1 when a stack returned into the hole (see localState) */
  holeFlags = new Uint8Array(64);
  /** per state: its local state (see localState), UNKNOWN until asked */
  private readonly locals: number[] = [];
  /** the position standing for "the rest of the stack, not known here" */
  private readonly holePos: number;
  /** the hole node standing at each stack depth (a cut stack keeps its true depth, so the depth limit applies alike) */
  private readonly holeNodes = new Map<number, number>();
  /** transitions[state * 256 + byte]: next state, DEAD, or UNKNOWN */
  transitions = new Int32Array(256 * 64).fill(UNKNOWN);
  readonly initial: number;
  /** the most a stack can grow while one byte is consumed (see maxGrowthPerByte) */
  readonly growthPerByte: number;

  constructor(readonly program: ByteProgram) {
    this.growthPerByte = maxGrowthPerByte(program);
    this.positions = program.op.length + 1;
    this.holePos = program.op.length;
    const alts = program.alternatives[program.root]!;
    this.initial = this.closure(Array.from(alts, (a) => [a, -1] as const));
  }

  get stateCount(): number {
    return this.stacks.length;
  }

  get size(): number {
    return this.nodeCount + this.stacks.length * 64;
  }

  canEnd(state: number): boolean {
    return this.accepting[state]!;
  }

  /** no stack can consume another byte */
  isFinal(state: number): boolean {
    return this.stacks[state]!.length === 0;
  }

  next(state: number, byte: number): number {
    const t = this.transitions[state * 256 + byte]!;
    return t === UNKNOWN ? this.computeTransition(state, byte) : t;
  }

  /** the state after `bytes` from `state` (DEAD once a byte is refused) */
  run(state: number, bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length && state !== DEAD; i++) state = this.next(state, bytes[i]!);
    return state;
  }

  computeTransition(state: number, byte: number): number {
    const { op, arg, byteSets } = this.program;
    const seeds: (readonly [number, number])[] = [];
    const word = byte >> 5;
    const bit = byte & 31;
    for (const node of this.stacks[state]!) {
      const pos = this.nodePos[node]!;
      if (op[pos] === Op.Byte && (byteSets[arg[pos]! * 8 + word]! >>> bit) & 1) seeds.push([pos + 1, this.nodeParent[node]!]);
    }
    const next = seeds.length === 0 ? DEAD : this.closure(seeds);
    this.transitions[state * 256 + byte] = next;
    return next;
  }

  private readonly visited = new Set<number>();
  private readonly tops = new Set<number>();
  private readonly work: number[] = [];

  /** the state of the stacks reached from `seeds` (position, parent node) by calls and returns, without consuming input */
  private closure(seeds: readonly (readonly [number, number])[]): number {
    const { op, arg, alternatives } = this.program;
    const P = this.positions;
    const visited = this.visited;
    const tops = this.tops;
    const work = this.work;
    visited.clear();
    tops.clear();
    work.length = 0;
    let accept = false;
    let hole = false;
    for (const [pos, parent] of seeds) work.push(pos, parent);
    while (work.length > 0) {
      const parent = work.pop()!;
      const pos = work.pop()!;
      const key = (parent + 1) * P + pos;
      if (visited.has(key)) continue;
      visited.add(key);
      if (visited.size > MAX_CLOSURE_STEPS) throw tooAmbiguous();
      if (pos === this.holePos) {
        hole = true;
        continue;
      }
      const o = op[pos];
      if (o === Op.Byte) {
        const node = this.intern(pos, parent);
        if (node >= 0) tops.add(node);
      } else if (o === Op.End) {
        if (parent < 0) accept = true;
        else work.push(this.nodePos[parent]!, this.nodeParent[parent]!);
      } else {
        const ret = pos + 1;
        let callerNode = parent;
        if (op[ret] !== Op.End) {
          callerNode = this.intern(ret, parent);
          if (callerNode < 0) continue;
        }
        for (const start of alternatives[arg[pos]!]!) work.push(start, callerNode);
      }
    }
    if (tops.size > GRAMMAR_LIMITS.maxStacksPerState) throw tooAmbiguous();
    if (tops.size === 0 && !accept && !hole) return DEAD;
    const sorted = Int32Array.from(tops).sort();
    const key = (accept ? 'a' : '') + (hole ? 'h' : '') + sorted.join(',');
    let id = this.stateIds.get(key);
    if (id === undefined) {
      id = this.stacks.length;
      this.stateIds.set(key, id);
      this.stacks.push(sorted);
      this.accepting.push(accept);
      this.locals.push(UNKNOWN);
      if ((id + 1) * 256 > this.transitions.length) {
        const grown = new Int32Array(this.transitions.length * 2).fill(UNKNOWN);
        grown.set(this.transitions);
        this.transitions = grown;
        const flags = new Uint8Array(this.holeFlags.length * 2);
        flags.set(this.holeFlags);
        this.holeFlags = flags;
      }
      this.holeFlags[id] = hole ? 1 : 0;
    }
    return id;
  }

  /** the node (pos, parent), or -1 past the depth limit */
  private intern(pos: number, parent: number): number {
    const key = (parent + 1) * this.positions + pos;
    const found = this.nodeIds.get(key);
    if (found !== undefined) return found;
    const depth = parent < 0 ? 1 : this.nodeDepth[parent]! + 1;
    if (depth > GRAMMAR_LIMITS.maxStackDepth) return -1;
    const id = this.allocate(pos, parent, depth);
    this.nodeIds.set(key, id);
    return id;
  }

  private allocate(pos: number, parent: number, depth: number): number {
    const id = this.nodeCount++;
    if (id >= this.nodePos.length) {
      const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.nodePos = grow(this.nodePos);
      this.nodeParent = grow(this.nodeParent);
      this.nodeDepth = grow(this.nodeDepth);
    }
    this.nodePos[id] = pos;
    this.nodeParent[id] = parent;
    this.nodeDepth[id] = depth;
    return id;
  }

  /**
   * The part of `state` that a token's first bytes can see: every stack cut where it reaches below
   * the shallowest stack's top frame, the cut replaced by the hole. A walk from the local state that
   * never returns into the hole does exactly what it does from `state` (the stacks below the cut are
   * untouched); one that does must be redone from `state`. States that differ only below the cut,
   * e.g. the inside of a JSON string in different properties, share one local state, so the mask of
   * the tokens that stay inside (most of the vocabulary) is computed once (XGrammar's split of
   * context-independent tokens). Returns `state` itself when there is nothing to cut.
   */
  localState(state: number, maxTokenBytes: number): number {
    const known = this.locals[state]!;
    if (known !== UNKNOWN) return known;
    const tops = this.stacks[state]!;
    let minDepth = Infinity;
    for (const top of tops) minDepth = Math.min(minDepth, this.nodeDepth[top]!);
    let local = state;
    if (minDepth > 1 && tops.length > 0) {
      const cut = minDepth - 1;
      // far from the depth limit (no token can reach it) the cut's depth cannot matter: states at
      // every such depth share one hole, and so one local state
      let maxTop = 0;
      for (const top of tops) maxTop = Math.max(maxTop, this.nodeDepth[top]!);
      const holeDepth = maxTop + maxTokenBytes * this.growthPerByte < GRAMMAR_LIMITS.maxStackDepth - 1 ? 1 : cut;
      let hole = this.holeNodes.get(holeDepth);
      if (hole === undefined) {
        hole = this.allocate(this.holePos, -1, holeDepth);
        this.holeNodes.set(holeDepth, hole);
      }
      const holeNode = hole;
      const copy = (node: number): number => (this.nodeDepth[node]! <= cut ? holeNode : this.intern(this.nodePos[node]!, copy(this.nodeParent[node]!)));
      local = this.closure(Array.from(tops, (top) => [this.nodePos[top]!, copy(this.nodeParent[top]!)] as const));
    }
    this.locals[state] = local;
    return local;
  }

  /** re-interns `state` of another automaton over the same program into this one (see CompiledGrammar) */
  adopt(other: Automaton, state: number): number {
    const seeds = Array.from(other.stacks[state]!, (node) => [other.nodePos[node]!, this.copyNode(other, other.nodeParent[node]!)] as const);
    if (other.accepting[state]) return this.closureWithAccept(seeds);
    return this.closure(seeds);
  }

  private closureWithAccept(seeds: readonly (readonly [number, number])[]): number {
    // an accepting state: the empty stack is reached by an End with no parent; add a seed that is one
    const endPos = this.program.op.indexOf(Op.End);
    return this.closure([...seeds, [endPos, -1]]);
  }

  private copyNode(other: Automaton, node: number): number {
    if (node < 0) return -1;
    return this.intern(other.nodePos[node]!, this.copyNode(other, other.nodeParent[node]!));
  }
}

/**
 * How much one consumed byte can deepen a stack: 1 for the byte's own frame, plus the longest chain
 * of calls (that push a return) the matcher can make before the next byte: rule r's depth is the
 * most, over its alternatives' leftmost callable references (those after only nullable elements),
 * of 1 (if the call is not in tail position) + the depth of the callee. The left-call graph is
 * acyclic (left recursion is refused), so this is finite.
 */
function maxGrowthPerByte(program: ByteProgram): number {
  const { op, arg, alternatives } = program;
  const n = alternatives.length;
  const nullable = new Uint8Array(n);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < n; r++) {
      if (nullable[r]) continue;
      for (const start of alternatives[r]!) {
        let p = start;
        while (op[p] === Op.Ref && nullable[arg[p]!]) p++;
        if (op[p] === Op.End) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  const depth = new Int32Array(n).fill(-1);
  const cap = GRAMMAR_LIMITS.maxStackDepth;
  // chains longer than the stack limit are cut there (the matcher cannot follow them further anyway)
  const visit = (r: number, level: number): number => {
    if (depth[r]! >= 0) return depth[r]!;
    if (level > cap) return cap;
    let best = 0;
    for (const start of alternatives[r]!) {
      for (let p = start; op[p] === Op.Ref; p++) {
        best = Math.max(best, (op[p + 1] === Op.End ? 0 : 1) + visit(arg[p]!, level + 1));
        if (!nullable[arg[p]!]) break;
      }
    }
    depth[r] = Math.min(best, cap);
    return depth[r]!;
  };
  let most = 0;
  for (let r = n - 1; r >= 0; r--) most = Math.max(most, visit(r, 0));
  return most + 1;
}
