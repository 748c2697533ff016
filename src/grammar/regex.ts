import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { CLASS_PROBLEM_TEXT, takeCharClass, takeCodePoint, takeHex, type TextCursor } from './char-class.js';
import { complementRanges, MAX_CODE_POINT, normalizeRanges } from './grammar-ir.js';
import { gbnfClass, gbnfLiteral } from './gbnf-text.js';
import { GRAMMAR_LIMITS } from './limits.js';

/**
 * Regular expressions (JavaScript syntax, the usual subset) to GBNF: literals and escapes, classes
 * (with ranges, negation, \d \w \s \D \W \S), `.`, groups ((?:...), (...), (?<name>...)),
 * alternation, quantifiers (* + ? {m} {m,} {m,n}, lazy or not: the language is the same), and ^ $
 * at the start and end of a top-level alternative. Lookaround, backreferences and word boundaries
 * are refused.
 */
type Node =
  | { t: 'chars'; ranges: number[] }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'repeat'; node: Node; min: number; max: number };

/** One top-level alternative, with its anchors. */
interface Branch {
  node: Node;
  anchoredStart: boolean;
  anchoredEnd: boolean;
}

/** How a matched code point is written in the output. */
export type CharEncoding = 'raw' | 'json-string';

export interface RegexGbnfOptions {
  /** 'json-string': the text is the content of a JSON string, so " \ and controls appear escaped */
  readonly encoding: CharEncoding;
  /** JSON Schema `pattern` semantics: the regex may match anywhere unless anchored (default: the whole text) */
  readonly search?: boolean;
}

/** A GBNF expression (a parenthesized group) for the strings `pattern` matches. */
export function regexToGbnf(pattern: string, options: RegexGbnfOptions): string {
  if (pattern.length > GRAMMAR_LIMITS.maxGrammarChars) throw regexError('pattern too long', 0);
  const branches = new RegexParser(pattern).parseTop();
  const emit = new Emitter(options.encoding);
  const anything = `${emit.chars([0, MAX_CODE_POINT])}*`;
  const alts = branches.map((b) => {
    const body = emit.node(b.node);
    if (!options.search) return body;
    return `${b.anchoredStart ? '' : anything + ' '}${body}${b.anchoredEnd ? '' : ' ' + anything}`;
  });
  return `( ${alts.join(' | ')} )`;
}

function regexError(message: string, pos: number): InvalidRequestError {
  return new InvalidRequestError('INVALID_ARGUMENT', `regex: ${message} at offset ${pos}`);
}

const DIGIT = [0x30, 0x39];
const WORD = normalizeRanges([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);
const SPACE = normalizeRanges([0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);
const LINE_TERMINATORS = normalizeRanges([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]);

const one = (cp: number): number[] => [cp, cp];

class RegexParser implements TextCursor {
  pos = 0;
  private depth = 0;
  constructor(readonly src: string) {}

  parseTop(): Branch[] {
    const branches: Branch[] = [];
    for (;;) {
      let anchoredStart = false;
      if (this.src[this.pos] === '^') {
        anchoredStart = true;
        this.pos++;
      }
      const node = this.parseSeq(true);
      let anchoredEnd = false;
      if (this.src[this.pos] === '$') {
        anchoredEnd = true;
        this.pos++;
      }
      branches.push({ node, anchoredStart, anchoredEnd });
      if (this.pos >= this.src.length) return branches;
      if (this.src[this.pos] === '|') this.pos++;
      else if (this.src[this.pos] === '$' || this.src[this.pos] === '^') throw regexError('anchors are supported only at the start and end of the pattern', this.pos);
      else throw regexError(`unexpected '${untrustedText(this.src[this.pos]!)}'`, this.pos);
    }
  }

  private parseAlt(): Node {
    const items = [this.parseSeq(false)];
    while (this.src[this.pos] === '|') {
      this.pos++;
      items.push(this.parseSeq(false));
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private parseSeq(top: boolean): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === '|' || c === ')') break;
      if (c === '$' && top && (this.pos + 1 === this.src.length || this.src[this.pos + 1] === '|')) break;
      if (c === '^' || c === '$') throw regexError('anchors are supported only at the start and end of the pattern', this.pos);
      const atom = this.parseAtom();
      items.push(this.parseQuantifiers(atom));
    }
    return { t: 'seq', items };
  }

  private parseQuantifiers(atom: Node): Node {
    for (;;) {
      const at = this.pos;
      const c = this.src[this.pos];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos, this.pos + 30));
        if (!m) return atom;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) throw regexError('quantifier {m,n} with n < m', at);
        if (min > GRAMMAR_LIMITS.maxRepetition || (max !== Infinity && max > GRAMMAR_LIMITS.maxRepetition)) {
          throw new InvalidRequestError('INVALID_ARGUMENT', `regex: repetition count exceeds the limit of ${GRAMMAR_LIMITS.maxRepetition} at offset ${at}`);
        }
        this.pos += m[0].length - 1;
      } else return atom;
      this.pos++;
      if (this.src[this.pos] === '?') this.pos++; // lazy: same language
      if (atom.t === 'repeat' && c !== '?') throw regexError('nothing to repeat', at);
      atom = { t: 'repeat', node: atom, min, max };
    }
  }

  private parseAtom(): Node {
    const at = this.pos;
    const c = this.src[this.pos]!;
    if (c === '(') {
      // each regex group becomes up to three nested GBNF groups
      const maxDepth = Math.floor(GRAMMAR_LIMITS.maxNesting / 3);
      if (++this.depth > maxDepth) throw regexError(`groups nested deeper than ${maxDepth}`, at);
      this.pos++;
      if (this.src[this.pos] === '?') {
        const rest = this.src.slice(this.pos, this.pos + 3);
        if (rest.startsWith('?:')) this.pos += 2;
        else if (rest.startsWith('?=') || rest.startsWith('?!') || rest === '?<=' || rest === '?<!') throw regexError('lookaround is not supported', at);
        else if (rest.startsWith('?<')) {
          const m = /^\?<[A-Za-z_$][A-Za-z0-9_$]*>/.exec(this.src.slice(this.pos, this.pos + 200));
          if (!m) throw regexError('bad group name', at);
          this.pos += m[0].length;
        } else throw regexError('unsupported group syntax', at);
      }
      const node = this.parseAlt();
      if (this.src[this.pos] !== ')') throw regexError("missing ')'", at);
      this.pos++;
      this.depth--;
      return node;
    }
    if (c === ')') throw regexError("unmatched ')'", at);
    if (c === '*' || c === '+' || c === '?') throw regexError('nothing to repeat', at);
    if (c === '[') return { t: 'chars', ranges: this.parseClass() };
    if (c === '.') {
      this.pos++;
      return { t: 'chars', ranges: complementRanges(LINE_TERMINATORS) };
    }
    if (c === '\\') {
      const set = this.parseEscape(false);
      return { t: 'chars', ranges: set };
    }
    return { t: 'chars', ranges: one(takeCodePoint(this)) };
  }

  private parseClass(): number[] {
    const member = (): number[] => (this.src[this.pos] === '\\' ? this.parseEscape(true) : one(takeCodePoint(this)));
    return takeCharClass(this, member, (problem, at) => regexError(CLASS_PROBLEM_TEXT[problem], at));
  }

  /** an escape as code point ranges */
  private parseEscape(inClass: boolean): number[] {
    const at = this.pos;
    const e = this.src[this.pos + 1];
    this.pos += 2;
    switch (e) {
      case undefined: throw regexError('trailing backslash', at);
      case 'd': return [...DIGIT];
      case 'D': return complementRanges(DIGIT);
      case 'w': return [...WORD];
      case 'W': return complementRanges(WORD);
      case 's': return [...SPACE];
      case 'S': return complementRanges(SPACE);
      case 'n': return one(0x0a);
      case 'r': return one(0x0d);
      case 't': return one(0x09);
      case 'f': return one(0x0c);
      case 'v': return one(0x0b);
      case '0': return one(0);
      case 'b':
        if (inClass) return one(0x08);
        throw regexError('word boundaries (\\b) are not supported', at);
      case 'B': throw regexError('word boundaries (\\B) are not supported', at);
      case 'k': throw regexError('backreferences are not supported', at);
      case 'x': return one(this.hex(2, at));
      case 'u': {
        if (this.src[this.pos] === '{') {
          const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.src.slice(this.pos, this.pos + 10));
          if (!m || parseInt(m[1]!, 16) > MAX_CODE_POINT) throw regexError('bad \\u{...} escape', at);
          this.pos += m[0].length;
          return one(parseInt(m[1]!, 16));
        }
        return one(this.hex(4, at));
      }
      default:
        if (/[1-9]/.test(e)) throw regexError('backreferences are not supported', at);
        if (/[A-Za-z]/.test(e)) throw regexError(`unknown escape '\\${e}'`, at);
        return one(this.src.codePointAt(this.pos - 1)!);
    }
  }

  private hex(digits: number, at: number): number {
    const cp = takeHex(this, digits);
    if (cp === undefined) throw regexError('bad hex escape', at);
    return cp;
  }
}

class Emitter {
  constructor(private readonly encoding: CharEncoding) {}

  node(n: Node): string {
    switch (n.t) {
      case 'chars': return this.chars(n.ranges);
      case 'seq': return n.items.length === 0 ? '""' : `( ${n.items.map((i) => this.node(i)).join(' ')} )`;
      case 'alt': return `( ${n.items.map((i) => this.node(i)).join(' | ')} )`;
      case 'repeat': return `${this.node(n.node)}{${n.min},${n.max === Infinity ? '' : n.max}}`;
    }
  }

  /** one code point of `ranges`, written raw or as it appears inside a JSON string (JSON.stringify's escapes) */
  chars(ranges: readonly number[]): string {
    if (this.encoding === 'raw') return gbnfClass(ranges);
    const specials = [0x22, 0x22, 0x5c, 0x5c, 0, 0x1f];
    const plain = intersect(ranges, complementRanges(normalizeRanges(specials)));
    const alts: string[] = plain.length > 0 ? [gbnfClass(plain)] : [];
    for (let i = 0; i < ranges.length; i += 2) {
      for (let cp = ranges[i]!; cp <= Math.min(ranges[i + 1]!, 0x5c); cp++) {
        if (cp <= 0x1f || cp === 0x22 || cp === 0x5c) alts.push(gbnfLiteral(JSON.stringify(String.fromCharCode(cp)).slice(1, -1)));
      }
    }
    if (alts.length === 0) return gbnfClass([]);
    return alts.length === 1 ? alts[0]! : `( ${alts.join(' | ')} )`;
  }
}

/** the intersection of two normalized range lists */
export function intersect(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]!, b[j]!);
    const hi = Math.min(a[i + 1]!, b[j + 1]!);
    if (lo <= hi) out.push(lo, hi);
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return out;
}
