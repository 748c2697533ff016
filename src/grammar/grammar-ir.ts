import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { GRAMMAR_LIMITS } from './limits.js';

/**
 * A context-free grammar over Unicode code points: rules → alternatives → sequences of elements.
 * Repetition (`* + ? {m,n}`) is already expanded into helper rules, so a sequence holds only
 * character classes and rule references.
 */
export type GrammarElement =
  /** one code point in the ranges: [lo0, hi0, lo1, hi1, ...] sorted, disjoint, no surrogates */
  | { readonly kind: 'chars'; readonly ranges: readonly number[] }
  | { readonly kind: 'ref'; readonly rule: number };

export interface GrammarRule {
  readonly name: string;
  alternatives: GrammarElement[][];
  /** a `x*` helper (`r ::= x r | ε`): its tail call to itself is a loop, not left recursion, even when x can be empty */
  repetition?: boolean;
}

export interface Grammar {
  readonly rules: readonly GrammarRule[];
  readonly root: number;
}

export const MAX_CODE_POINT = 0x10ffff;

/** Sorts, merges and drops surrogates (they have no UTF-8 encoding) from [lo, hi] pairs. */
export function normalizeRanges(pairs: readonly number[]): number[] {
  const list: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const lo = pairs[i]!;
    const hi = pairs[i + 1]!;
    if (lo > hi) continue;
    if (lo < 0xd800 && hi >= 0xd800) {
      list.push([lo, 0xd7ff]);
      if (hi > 0xdfff) list.push([0xe000, hi]);
    } else if (lo >= 0xd800 && lo <= 0xdfff) {
      if (hi > 0xdfff) list.push([0xe000, hi]);
    } else list.push([lo, hi]);
  }
  list.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of list) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

/** The code points not in `ranges` (a normalized list), surrogates excluded. */
export function complementRanges(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i]! > next) out.push(next, ranges[i]! - 1);
    next = ranges[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return normalizeRanges(out);
}

export function charsElement(pairs: readonly number[]): GrammarElement {
  return { kind: 'chars', ranges: normalizeRanges(pairs) };
}

/** Elements matching `text` exactly (one per code point). */
export function literalElements(text: string): GrammarElement[] {
  const out: GrammarElement[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out.push({ kind: 'chars', ranges: [cp, cp] });
  }
  return out;
}

export function grammarLimitError(what: string, limit: number): InvalidRequestError {
  return new InvalidRequestError('INVALID_ARGUMENT', `grammar too large: ${what} exceeds the limit of ${limit}`);
}

/**
 * Collects rules by name, resolves forward references, and expands repetition into helper rules
 * while counting rules and elements against GRAMMAR_LIMITS.
 */
export class GrammarBuilder {
  readonly rules: GrammarRule[] = [];
  private readonly byName = new Map<string, number>();
  private readonly defined = new Set<number>();
  /** where each rule was first referenced, for "undefined rule" errors */
  private readonly firstUse = new Map<number, () => string>();
  private elementCount = 0;
  private helperCount = 0;

  /** The id of the rule called `name`, creating an undefined placeholder on first use. */
  ruleId(name: string, usedAt?: () => string): number {
    let id = this.byName.get(name);
    if (id === undefined) {
      id = this.newRule(name);
      this.byName.set(name, id);
    }
    if (usedAt !== undefined && !this.firstUse.has(id)) this.firstUse.set(id, usedAt);
    return id;
  }

  isDefined(name: string): boolean {
    const id = this.byName.get(name);
    return id !== undefined && this.defined.has(id);
  }

  define(id: number, alternatives: GrammarElement[][]): void {
    this.rules[id]!.alternatives = alternatives;
    this.defined.add(id);
    for (const alt of alternatives) this.count(alt.length);
  }

  /** A fresh helper rule (for a group or a repetition) named after its parent. */
  helper(parent: string, alternatives: GrammarElement[][]): number {
    const id = this.newRule(`${parent}_${++this.helperCount}`);
    this.define(id, alternatives);
    return id;
  }

  /**
   * `element{min,max}` (max = Infinity for no bound) as elements, llama.cpp-style: `min` copies,
   * then `x*` as `r ::= x r | ε`, or a bounded tail as nested optionals `r_k ::= x r_(k-1) | ε`
   * (right-recursive, so the matcher's stack does not grow along the repetition).
   */
  repeat(parent: string, element: GrammarElement, min: number, max: number): GrammarElement[] {
    const bound = max === Infinity ? min : max;
    if (min > GRAMMAR_LIMITS.maxRepetition || bound > GRAMMAR_LIMITS.maxRepetition) {
      throw grammarLimitError(`repetition count ${Math.max(min, bound)}`, GRAMMAR_LIMITS.maxRepetition);
    }
    const out: GrammarElement[] = [];
    for (let i = 0; i < min; i++) out.push(element);
    this.count(min);
    if (max === Infinity) {
      const id = this.newRule(`${parent}_${++this.helperCount}`);
      this.define(id, [[element, { kind: 'ref', rule: id }], []]);
      this.rules[id]!.repetition = true;
      out.push({ kind: 'ref', rule: id });
    } else if (max > min) {
      let tail = -1;
      for (let k = 1; k <= max - min; k++) {
        const alt: GrammarElement[] = tail < 0 ? [element] : [element, { kind: 'ref', rule: tail }];
        tail = this.helper(parent, [alt, []]);
      }
      out.push({ kind: 'ref', rule: tail });
    }
    return out;
  }

  /** Checks every referenced rule is defined and returns the grammar rooted at `root`. */
  build(rootName: string): Grammar {
    for (const [name, id] of this.byName) {
      if (!this.defined.has(id)) {
        const at = this.firstUse.get(id)?.();
        throw new InvalidRequestError('INVALID_ARGUMENT', `grammar: undefined rule '${untrustedText(name)}'${at ? ` (referenced at ${at})` : ''}`);
      }
    }
    const root = this.byName.get(rootName);
    if (root === undefined) throw new InvalidRequestError('INVALID_ARGUMENT', `grammar: missing '${rootName}' rule`);
    return { rules: this.rules, root };
  }

  private newRule(name: string): number {
    if (this.rules.length >= GRAMMAR_LIMITS.maxRules) throw grammarLimitError('the number of rules', GRAMMAR_LIMITS.maxRules);
    this.rules.push({ name, alternatives: [] });
    return this.rules.length - 1;
  }

  private count(n: number): void {
    this.elementCount += n;
    if (this.elementCount > GRAMMAR_LIMITS.maxElements) throw grammarLimitError('the number of grammar elements', GRAMMAR_LIMITS.maxElements);
  }
}
