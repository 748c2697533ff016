import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import type { Grammar, GrammarElement } from './grammar-ir.js';
import { utf8Sequences } from './utf8-ranges.js';

export const enum Op {
  /** consume one byte in byteset `arg` */
  Byte = 0,
  /** match rule `arg`, then go on */
  Ref = 1,
  /** the end of an alternative: return to the caller */
  End = 2,
}

/**
 * A grammar lowered to bytes, as a flat program the matcher walks: every alternative is a run of
 * positions (Byte / Ref) closed by End. Code point classes outside ASCII become helper rules of
 * UTF-8 byte sequences, so the matcher never decodes UTF-8 and a token may end inside a character.
 */
export interface ByteProgram {
  readonly op: Uint8Array;
  readonly arg: Int32Array;
  /** 256-bit sets, 8 words each: bit b of set s is byteSets[s * 8 + (b >> 5)] >>> (b & 31) & 1 */
  readonly byteSets: Uint32Array;
  /** the first position of each alternative of each rule */
  readonly alternatives: readonly Int32Array[];
  readonly root: number;
  readonly ruleNames: readonly string[];
}

/**
 * Lowers `grammar` (only rules reachable from the root) and refuses grammars the matcher cannot run:
 * left recursion (`a ::= a "x" | ...`, also through rules that can match nothing), which would
 * make the matcher's stack grow without consuming input.
 */
export function lowerGrammar(grammar: Grammar): ByteProgram {
  checkNoLeftRecursion(grammar);
  const op: number[] = [];
  const arg: number[] = [];
  const sets: number[] = [];
  const setIds = new Map<string, number>();
  const alternatives: Int32Array[] = [];
  const ruleNames: string[] = [];
  const ruleIds = new Map<number, number>();
  const classRules = new Map<string, number>();
  const pending: (() => void)[] = [];

  const byteSet = (pairs: readonly number[]): number => {
    const words = new Array<number>(8).fill(0);
    for (let i = 0; i < pairs.length; i += 2) for (let b = pairs[i]!; b <= pairs[i + 1]!; b++) words[b >> 5] |= 1 << (b & 31);
    const key = words.join(',');
    let id = setIds.get(key);
    if (id === undefined) {
      id = setIds.size;
      setIds.set(key, id);
      for (const w of words) sets.push(w >>> 0);
    }
    return id;
  };
  const newRule = (name: string, emit: () => number[][]): number => {
    const id = alternatives.length;
    alternatives.push(new Int32Array(0));
    ruleNames.push(name);
    pending.push(() => {
      const starts: number[] = [];
      for (const alt of emit()) {
        starts.push(op.length);
        for (let i = 0; i < alt.length; i += 2) {
          op.push(alt[i]!);
          arg.push(alt[i + 1]!);
        }
        op.push(Op.End);
        arg.push(0);
      }
      alternatives[id] = Int32Array.from(starts);
    });
    return id;
  };
  const ruleFor = (rule: number): number => {
    let id = ruleIds.get(rule);
    if (id === undefined) {
      const source = grammar.rules[rule]!;
      id = newRule(source.name, () => source.alternatives.map(lowerAlt).filter((a): a is number[] => a !== undefined));
      ruleIds.set(rule, id);
    }
    return id;
  };
  /** [op, arg, op, arg, ...] for one alternative; undefined when it contains an empty class (never matches) */
  const lowerAlt = (alt: readonly GrammarElement[]): number[] | undefined => {
    const out: number[] = [];
    for (const el of alt) {
      if (el.kind === 'ref') {
        out.push(Op.Ref, ruleFor(el.rule));
        continue;
      }
      const r = el.ranges;
      if (r.length === 0) return undefined;
      if (r[r.length - 1]! < 0x80) {
        out.push(Op.Byte, byteSet(r));
        continue;
      }
      const key = r.join(',');
      let cls = classRules.get(key);
      if (cls === undefined) {
        cls = newRule(`[class ${key.length > 40 ? key.slice(0, 40) + '…' : key}]`, () => {
          const alts: number[][] = [];
          for (let i = 0; i < r.length; i += 2) {
            for (const seq of utf8Sequences(r[i]!, r[i + 1]!)) alts.push(seq.flatMap(([lo, hi]) => [Op.Byte, byteSet([lo, hi])]));
          }
          return alts;
        });
        classRules.set(key, cls);
      }
      out.push(Op.Ref, cls);
    }
    return out;
  };

  const root = ruleFor(grammar.root);
  for (let i = 0; i < pending.length; i++) pending[i]!();
  return { op: Uint8Array.from(op), arg: Int32Array.from(arg), byteSets: Uint32Array.from(sets), alternatives, root, ruleNames };
}

function checkNoLeftRecursion(grammar: Grammar): void {
  const n = grammar.rules.length;
  // nullable: the rule can match the empty string (fixpoint)
  const nullable = new Uint8Array(n);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < n; r++) {
      if (nullable[r]) continue;
      if (grammar.rules[r]!.alternatives.some((alt) => alt.every((el) => el.kind === 'ref' && nullable[el.rule]))) {
        nullable[r] = 1;
        changed = true;
      }
    }
  }
  // edges r → s where s can be called before r has consumed anything
  const leftCalls: number[][] = grammar.rules.map((rule, r) => {
    const out: number[] = [];
    for (const alt of rule.alternatives) {
      for (const [i, el] of alt.entries()) {
        if (el.kind !== 'ref') break;
        // a repetition's tail call to itself pushes nothing: the matcher's closure meets the same state and stops
        if (!(rule.repetition && el.rule === r && i === alt.length - 1)) out.push(el.rule);
        if (!nullable[el.rule]) break;
      }
    }
    return out;
  });
  const state = new Uint8Array(n); // 0 new, 1 on the path, 2 done
  for (let start = 0; start < n; start++) {
    if (state[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [r, i] = top;
      if (i >= leftCalls[r]!.length) {
        state[r] = 2;
        stack.pop();
        continue;
      }
      top[1]++;
      const s = leftCalls[r]![i]!;
      if (state[s] === 1) {
        throw new InvalidRequestError('INVALID_ARGUMENT', `grammar: rule '${untrustedText(grammar.rules[s]!.name)}' is left-recursive (it can call itself before matching any input)`);
      }
      if (state[s] === 0) {
        state[s] = 1;
        stack.push([s, 0]);
      }
    }
  }
}
