import { InvalidRequestError } from '../errors/engine-error.js';
import { Op, type ByteProgram } from './byte-program.js';
import { GRAMMAR_LIMITS } from './limits.js';

/** (position, parent) pairs one closure may visit: far more than maxStacksPerState allows to keep, so it only stops blow-ups early */
const MAX_CLOSURE_STEPS = GRAMMAR_LIMITS.maxStacksPerState * 16;

function tooAmbiguous(): InvalidRequestError {
  return new InvalidRequestError('INVALID_ARGUMENT', `grammar too ambiguous: a matcher state exceeds the limit of ${GRAMMAR_LIMITS.maxStacksPerState} stacks`);
}

/** transition not computed yet (the state's row not classified) */
const UNKNOWN = -2;
/** no stack can take the byte */
export const DEAD = -1;
/**
 * Row entries below UNKNOWN: the byte is alive but its next state not computed yet; -3 - g names
 * the row's byte group g (bytes taken by the same stacks, so they share one closure).
 */
const FIRST_GROUP = -3;
/** distinct byte sets among a state's tops up to which bytes are grouped by a bitmask of them */
const MAX_GROUPED_SETS = 32;

/**
 * The grammar's pushdown automaton over bytes (llama.cpp's stack-set approach), determinized lazily:
 * a state is the set of the matcher's stacks, each stack a chain of interned nodes (position,
 * parent), its top a position that consumes a byte. States are interned, so equal stack sets are one
 * state id, and byte transitions are computed once per (state, byte) and kept in a flat table; the
 * token mask walks that table. Calls to rules in tail position do not push (a right-recursive loop
 * such as a string's characters keeps one stack), and the stack depth is bounded
 * (GRAMMAR_LIMITS.maxStackDepth: deeper nesting is not matched).
 *
 * The first lookup in a state's row splits the 256 bytes into groups taken by the same stacks
 * (dead bytes cost nothing after that), and a group's closure is computed once for all its bytes.
 * Nodes, a closure's visited pairs and states are interned in open-addressing tables over typed
 * arrays (no per-closure allocation, no string keys).
 */
export class Automaton {
  private nodePos = new Int32Array(1024);
  private nodeParent = new Int32Array(1024);
  private nodeDepth = new Int32Array(1024);
  private nodeCount = 0;
  /** open addressing (pos, parent) → node id + 1, 0 empty; hole nodes are not in it */
  private nodeTable = new Int32Array(2048);
  private numInternedNodes = 0;
  private readonly positions: number;

  /** each state's stacks (node ids, sorted) */
  private readonly stacks: Int32Array[] = [];
  /** each state: the stack set includes the empty stack (the input so far is a complete match) */
  private readonly accepting: boolean[] = [];
  /** open addressing over states (hash of flags and stacks) → state id + 1, 0 empty */
  private stateTable = new Int32Array(256);
  /** per state: the hash its stateTable slot was found by */
  private stateHashes = new Int32Array(64);
  /** per state: 1 when a stack returned into the hole (see localState) */
  holeFlags = new Uint8Array(64);
  /** per state: its local state (see localState), UNKNOWN until asked */
  private readonly locals: number[] = [];
  /** the position standing for "the rest of the stack, not known here" */
  private readonly holePos: number;
  /** the hole node standing at each stack depth (a cut stack keeps its true depth, so the depth limit applies alike) */
  private readonly holeNodes = new Map<number, number>();
  /** transitions[state * 256 + byte]: next state, DEAD, UNKNOWN, or a pending byte group (FIRST_GROUP - g) */
  transitions = new Int32Array(256 * 64).fill(UNKNOWN);
  readonly initial: number;
  /** the most a stack can grow while one byte is consumed (see maxGrowthPerByte) */
  readonly growthPerByte: number;

  // closure scratch: the work stack of (position, parent) pairs, the tops found, and the visited
  // pairs (a table whose slots count as empty unless stamped with the current closure's epoch)
  private work = new Int32Array(256);
  private tops = new Int32Array(64);
  private visitPos = new Int32Array(1024);
  private visitParent = new Int32Array(1024);
  private visitStamp = new Int32Array(1024);
  private epoch = 0;
  // row classification scratch
  private readonly byteSig = new Int32Array(256);
  private readonly groupSigs = new Int32Array(256);
  private readonly setIds = new Int32Array(MAX_GROUPED_SETS);

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
    return t < DEAD ? this.computeTransition(state, byte) : t;
  }

  /** the state after `bytes` from `state` (DEAD once a byte is refused) */
  run(state: number, bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length && state !== DEAD; i++) state = this.next(state, bytes[i]!);
    return state;
  }

  /** the next state of (state, byte), computed and stored with every byte of its group */
  computeTransition(state: number, byte: number): number {
    const row = state * 256;
    let t = this.transitions[row + byte]!;
    if (t === UNKNOWN) {
      this.classifyRow(state);
      t = this.transitions[row + byte]!;
    }
    if (t >= DEAD) return t;
    const { op, arg, byteSets } = this.program;
    const word = byte >> 5;
    const bit = byte & 31;
    let numWork = 0;
    for (const node of this.stacks[state]!) {
      const pos = this.nodePos[node]!;
      if (op[pos] === Op.Byte && (byteSets[arg[pos]! * 8 + word]! >>> bit) & 1) {
        if (numWork + 2 > this.work.length) this.work = grow(this.work);
        this.work[numWork++] = pos + 1;
        this.work[numWork++] = this.nodeParent[node]!;
      }
    }
    const next = this.closureOfWork(numWork);
    const transitions = this.transitions; // closureOfWork may have grown it
    for (let b = 0; b < 256; b++) if (transitions[row + b] === t) transitions[row + b] = next;
    return next;
  }

  /**
   * Marks the row's dead bytes DEAD and its live bytes with their group: bytes whose sets of
   * taking stacks are equal (tops with one byte set take a byte together, so a byte's signature is
   * the bitmask of the distinct byte sets that hold it). Past MAX_GROUPED_SETS distinct sets, every
   * live byte is its own group.
   */
  private classifyRow(state: number): void {
    const { op, arg, byteSets } = this.program;
    const sig = this.byteSig;
    const setIds = this.setIds;
    sig.fill(0);
    let numSets = 0;
    let grouped = true;
    for (const node of this.stacks[state]!) {
      const pos = this.nodePos[node]!;
      if (op[pos] !== Op.Byte) continue;
      const set = arg[pos]!;
      let k = 0;
      while (k < numSets && setIds[k] !== set) k++;
      if (k === numSets) {
        if (numSets === MAX_GROUPED_SETS) {
          grouped = false;
          k = 0;
        } else setIds[numSets++] = set;
      }
      const flag = grouped ? 1 << k : 1;
      for (let w = 0; w < 8; w++) {
        for (let x = byteSets[set * 8 + w]!; x !== 0; x &= x - 1) sig[w * 32 + (31 - Math.clz32(x & -x))]! |= flag;
      }
    }
    const row = state * 256;
    const transitions = this.transitions;
    const groupSigs = this.groupSigs;
    let numGroups = 0;
    for (let b = 0; b < 256; b++) {
      const s = sig[b]!;
      if (s === 0) {
        transitions[row + b] = DEAD;
        continue;
      }
      let g = b;
      if (grouped) {
        g = 0;
        while (g < numGroups && groupSigs[g] !== s) g++;
        if (g === numGroups) groupSigs[numGroups++] = s;
      }
      transitions[row + b] = FIRST_GROUP - g;
    }
  }

  /** the state of the stacks reached from `seeds` (position, parent node) by calls and returns, without consuming input */
  private closure(seeds: readonly (readonly [number, number])[]): number {
    if (seeds.length * 2 > this.work.length) this.work = new Int32Array(seeds.length * 2);
    let numWork = 0;
    for (const [pos, parent] of seeds) {
      this.work[numWork++] = pos;
      this.work[numWork++] = parent;
    }
    return this.closureOfWork(numWork);
  }

  /** closure of the first `numWork` entries of the work stack ((position, parent) pairs) */
  private closureOfWork(numWork: number): number {
    if (numWork === 0) return DEAD;
    const { op, arg, alternatives } = this.program;
    const epoch = ++this.epoch;
    let numVisited = 0;
    let numTops = 0;
    let accept = false;
    let hole = false;
    let work = this.work;
    while (numWork > 0) {
      const parent = work[--numWork]!;
      const pos = work[--numWork]!;
      // visited (pos, parent): linear probing, slots stamped with this epoch
      let mask = this.visitStamp.length - 1;
      let slot = pairHash(pos, parent) & mask;
      let seen = false;
      while (this.visitStamp[slot] === epoch) {
        if (this.visitPos[slot] === pos && this.visitParent[slot] === parent) {
          seen = true;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (seen) continue;
      this.visitStamp[slot] = epoch;
      this.visitPos[slot] = pos;
      this.visitParent[slot] = parent;
      if (++numVisited > MAX_CLOSURE_STEPS) throw tooAmbiguous();
      if (numVisited * 2 > mask) this.growVisited(epoch);
      if (pos === this.holePos) {
        hole = true;
        continue;
      }
      const o = op[pos];
      if (o === Op.Byte) {
        const node = this.intern(pos, parent);
        if (node >= 0) {
          if (numTops === this.tops.length) this.tops = grow(this.tops);
          this.tops[numTops++] = node;
        }
      } else if (o === Op.End) {
        if (parent < 0) accept = true;
        else {
          if (numWork + 2 > work.length) this.work = work = grow(work);
          work[numWork++] = this.nodePos[parent]!;
          work[numWork++] = this.nodeParent[parent]!;
        }
      } else {
        const ret = pos + 1;
        let callerNode = parent;
        if (op[ret] !== Op.End) {
          callerNode = this.intern(ret, parent);
          if (callerNode < 0) continue;
        }
        const starts = alternatives[arg[pos]!]!;
        if (numWork + 2 * starts.length > work.length) this.work = work = grow(work, numWork + 2 * starts.length);
        for (let k = 0; k < starts.length; k++) {
          work[numWork++] = starts[k]!;
          work[numWork++] = callerNode;
        }
      }
    }
    // every (pos, parent) is visited once, so its node is a top once: the tops are distinct
    if (numTops > GRAMMAR_LIMITS.maxStacksPerState) throw tooAmbiguous();
    if (numTops === 0 && !accept && !hole) return DEAD;
    const sorted = this.tops.subarray(0, numTops).sort();
    return this.internState(sorted, accept, hole);
  }

  private growVisited(epoch: number): void {
    const oldPos = this.visitPos;
    const oldParent = this.visitParent;
    const oldStamp = this.visitStamp;
    const size = oldStamp.length * 2;
    this.visitPos = new Int32Array(size);
    this.visitParent = new Int32Array(size);
    this.visitStamp = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < oldStamp.length; i++) {
      if (oldStamp[i] !== epoch) continue;
      let slot = pairHash(oldPos[i]!, oldParent[i]!) & mask;
      while (this.visitStamp[slot] === epoch) slot = (slot + 1) & mask;
      this.visitStamp[slot] = epoch;
      this.visitPos[slot] = oldPos[i]!;
      this.visitParent[slot] = oldParent[i]!;
    }
  }

  /** the id of the state with these (sorted, distinct) tops and flags, made if new */
  private internState(sorted: Int32Array, accept: boolean, hole: boolean): number {
    let h = Math.imul((accept ? 2 : 0) | (hole ? 1 : 0), 0x9e3779b1) ^ sorted.length;
    for (let i = 0; i < sorted.length; i++) h = Math.imul(h ^ sorted[i]!, 0x85ebca77) ^ (h >>> 15);
    const table = this.stateTable;
    const mask = table.length - 1;
    let slot = h & mask;
    for (let e = table[slot]!; e !== 0; e = table[slot]!) {
      const id = e - 1;
      if (this.stateHashes[id] === h && this.accepting[id] === accept && (this.holeFlags[id] === 1) === hole && sameStacks(this.stacks[id]!, sorted)) return id;
      slot = (slot + 1) & mask;
    }
    const id = this.stacks.length;
    this.stacks.push(sorted.slice());
    this.accepting.push(accept);
    this.locals.push(UNKNOWN);
    if ((id + 1) * 256 > this.transitions.length) {
      const grown = new Int32Array(this.transitions.length * 2).fill(UNKNOWN);
      grown.set(this.transitions);
      this.transitions = grown;
      const flags = new Uint8Array(this.holeFlags.length * 2);
      flags.set(this.holeFlags);
      this.holeFlags = flags;
      this.stateHashes = grow(this.stateHashes);
    }
    this.holeFlags[id] = hole ? 1 : 0;
    this.stateHashes[id] = h;
    table[slot] = id + 1;
    if (this.stacks.length * 2 > table.length) {
      const bigger = new Int32Array(table.length * 2);
      const m = bigger.length - 1;
      for (let s = 0; s < this.stacks.length; s++) {
        let k = this.stateHashes[s]! & m;
        while (bigger[k] !== 0) k = (k + 1) & m;
        bigger[k] = s + 1;
      }
      this.stateTable = bigger;
    }
    return id;
  }

  /** the node (pos, parent), or -1 past the depth limit */
  private intern(pos: number, parent: number): number {
    let mask = this.nodeTable.length - 1;
    let slot = pairHash(pos, parent) & mask;
    for (let e = this.nodeTable[slot]!; e !== 0; e = this.nodeTable[slot]!) {
      const id = e - 1;
      if (this.nodePos[id] === pos && this.nodeParent[id] === parent) return id;
      slot = (slot + 1) & mask;
    }
    const depth = parent < 0 ? 1 : this.nodeDepth[parent]! + 1;
    if (depth > GRAMMAR_LIMITS.maxStackDepth) return -1;
    const id = this.allocate(pos, parent, depth);
    this.nodeTable[slot] = id + 1;
    if (++this.numInternedNodes * 2 > mask) {
      // rehash every interned node (hole nodes were never in the table)
      const bigger = new Int32Array(this.nodeTable.length * 2);
      mask = bigger.length - 1;
      for (let n = 0; n < this.nodeCount; n++) {
        if (this.nodePos[n] === this.holePos) continue;
        let k = pairHash(this.nodePos[n]!, this.nodeParent[n]!) & mask;
        while (bigger[k] !== 0) k = (k + 1) & mask;
        bigger[k] = n + 1;
      }
      this.nodeTable = bigger;
    }
    return id;
  }

  private allocate(pos: number, parent: number, depth: number): number {
    const id = this.nodeCount++;
    if (id >= this.nodePos.length) {
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
function pairHash(pos: number, parent: number): number {
  const h = Math.imul(pos, 0x9e3779b1) ^ Math.imul(parent + 1, 0x85ebca77);
  return h ^ (h >>> 16);
}

function sameStacks(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** a copy at least twice as long (and at least `atLeast`) */
function grow(a: Int32Array, atLeast = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(a.length * 2, atLeast));
  b.set(a);
  return b;
}

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
