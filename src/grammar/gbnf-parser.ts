import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedText } from '../errors/untrusted-text.js';
import { CLASS_PROBLEM_TEXT, takeCharClass, takeCodePoint, takeHex, type TextCursor } from './char-class.js';
import { charsElement, GrammarBuilder, grammarLimitError, MAX_CODE_POINT, type Grammar, type GrammarElement } from './grammar-ir.js';
import { GRAMMAR_LIMITS } from './limits.js';

/**
 * Parses a GBNF grammar (llama.cpp's grammars/README.md): `name ::= alternatives` rules, a `root`
 * rule, "literals" with escapes (\n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH), [classes] with
 * ranges and [^negation], `.` (any character), ( groups ), `|`, `* + ?`, `{m}` `{m,}` `{m,n}` `{,n}`,
 * and `#` comments. A rule may continue over several lines; it ends at a line that starts a new
 * rule (`name ::=`) or at the end of the text. Throws InvalidRequestError('INVALID_ARGUMENT')
 * naming the problem and its line and column. `maxChars` bounds the text (grammars generated from a
 * schema, already bounded by the schema limits, may be longer than a user's grammar may).
 */
export function parseGbnf(text: string, rootName = 'root', maxChars: number = GRAMMAR_LIMITS.maxGrammarChars): Grammar {
  if (text.length > maxChars) throw grammarLimitError('grammar text length', maxChars);
  const parser = new GbnfParser(text);
  parser.parseRules();
  return parser.builder.build(rootName);
}

const isNameChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_-]/.test(c);

class GbnfParser implements TextCursor {
  readonly builder = new GrammarBuilder();
  pos = 0;
  private depth = 0;
  constructor(readonly src: string) {}

  parseRules(): void {
    this.skipSpace(true);
    if (this.pos >= this.src.length) throw this.error('empty grammar');
    while (this.pos < this.src.length) {
      const at = this.pos;
      const name = this.parseName();
      this.skipSpace(false);
      if (!this.src.startsWith('::=', this.pos)) throw this.error("expected '::='");
      this.pos += 3;
      this.skipSpace(true);
      if (this.builder.isDefined(name)) throw this.error(`rule '${untrustedText(name)}' defined twice`, at);
      const id = this.builder.ruleId(name);
      const alternatives = this.parseAlternatives(name, false);
      this.builder.define(id, alternatives);
      this.skipSpace(true);
    }
  }

  private parseAlternatives(ruleName: string, nested: boolean): GrammarElement[][] {
    const alternatives = [this.parseSequence(ruleName, nested)];
    while (this.src[this.pos] === '|') {
      this.pos++;
      this.skipSpace(true);
      alternatives.push(this.parseSequence(ruleName, nested));
    }
    return alternatives;
  }

  private parseSequence(ruleName: string, nested: boolean): GrammarElement[] {
    const seq: GrammarElement[] = [];
    /** where the last item (a literal is one item of several elements) starts in `seq` */
    let lastStart = -1;
    for (;;) {
      this.skipSpace(nested || this.continuesOnNextLine());
      const c = this.src[this.pos];
      if (c === undefined || c === '|' || c === ')' || c === '\n' || c === '\r') return seq;
      if (c !== '*' && c !== '+' && c !== '?' && c !== '{') lastStart = seq.length;
      if (c === '"') {
        this.pos++;
        while (this.src[this.pos] !== '"') {
          if (this.pos >= this.src.length) throw this.error('unterminated literal');
          const cp = this.parseChar();
          seq.push({ kind: 'chars', ranges: [cp, cp] });
        }
        this.pos++;
      } else if (c === '[') {
        seq.push(this.parseClass());
      } else if (c === '.') {
        this.pos++;
        seq.push(charsElement([0, MAX_CODE_POINT]));
      } else if (c === '(') {
        const at = this.pos;
        this.pos++;
        if (++this.depth > GRAMMAR_LIMITS.maxNesting) throw this.error(`groups nested deeper than ${GRAMMAR_LIMITS.maxNesting}`, at);
        this.skipSpace(true);
        const alternatives = this.parseAlternatives(ruleName, true);
        if (this.src[this.pos] !== ')') throw this.error("expected ')'", at);
        this.pos++;
        this.depth--;
        seq.push({ kind: 'ref', rule: this.builder.helper(ruleName, alternatives) });
      } else if (isNameChar(c)) {
        const at = this.pos;
        seq.push({ kind: 'ref', rule: this.builder.ruleId(this.parseName(), () => this.location(at)) });
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        if (lastStart < 0) throw this.error(`'${c}' with nothing to repeat`);
        const item = seq.splice(lastStart);
        const [min, max] = this.parseRepetition();
        // an empty literal repeated is still empty; a literal of several characters repeats as a group
        if (item.length > 0) {
          const element: GrammarElement = item.length === 1 ? item[0]! : { kind: 'ref', rule: this.builder.helper(ruleName, [item]) };
          seq.push(...this.builder.repeat(ruleName, element, min, max));
        }
      } else {
        throw this.error(`unexpected character '${untrustedText(c)}'`);
      }
    }
  }

  private parseRepetition(): [number, number] {
    const c = this.src[this.pos++];
    if (c === '*') return [0, Infinity];
    if (c === '+') return [1, Infinity];
    if (c === '?') return [0, 1];
    const at = this.pos - 1;
    this.skipSpace(false);
    const given = this.parseInt();
    const min = given ?? 0;
    this.skipSpace(false);
    let max = min;
    if (this.src[this.pos] === ',') {
      this.pos++;
      this.skipSpace(false);
      max = this.parseInt() ?? Infinity;
      this.skipSpace(false);
    } else if (given === undefined) throw this.error('expected a count in {m,n}', at);
    if (this.src[this.pos] !== '}') throw this.error("expected '}' to close the repetition", at);
    this.pos++;
    if (max < min) throw this.error(`repetition {${min},${max}} has max below min`, at);
    return [min, max];
  }

  private parseInt(): number | undefined {
    const m = /^[0-9]+/.exec(this.src.slice(this.pos, this.pos + 12));
    if (!m) return undefined;
    this.pos += m[0].length;
    const n = Number(m[0]);
    if (n > GRAMMAR_LIMITS.maxRepetition) throw grammarLimitError(`repetition count ${n}`, GRAMMAR_LIMITS.maxRepetition);
    return n;
  }

  private parseClass(): GrammarElement {
    const ranges = takeCharClass(this, () => {
      const cp = this.parseChar();
      return [cp, cp];
    }, (problem, at) => this.error(CLASS_PROBLEM_TEXT[problem], at));
    return { kind: 'chars', ranges };
  }

  /** one (possibly escaped) character of a literal or class */
  private parseChar(): number {
    if (this.src[this.pos] !== '\\') return takeCodePoint(this);
    const at = this.pos;
    const e = this.src[this.pos + 1];
    this.pos += 2;
    switch (e) {
      case 'n': return 0x0a;
      case 'r': return 0x0d;
      case 't': return 0x09;
      case '\\': case '"': case '[': case ']': case '-': case '^': return e.charCodeAt(0);
      case 'x': return this.parseHex(2, at);
      case 'u': return this.parseHex(4, at);
      case 'U': return this.parseHex(8, at);
      default: throw this.error(`unknown escape '\\${untrustedText(e ?? '')}'`, at);
    }
  }

  private parseHex(digits: number, at: number): number {
    const cp = takeHex(this, digits);
    if (cp === undefined) throw this.error(`expected ${digits} hex digits in escape`, at);
    if (cp > MAX_CODE_POINT) throw this.error('escape beyond U+10FFFF', at);
    return cp;
  }

  private parseName(): string {
    const start = this.pos;
    while (isNameChar(this.src[this.pos])) this.pos++;
    if (this.pos === start) throw this.error('expected a rule name');
    return this.src.slice(start, this.pos);
  }

  /** spaces, tabs and comments; newlines too when `newlines` */
  private skipSpace(newlines: boolean): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t' || ((c === '\n' || c === '\r') && newlines)) this.pos++;
      else if (c === '#') while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
      else return;
    }
  }

  /** at a line break inside a top-level rule: does the rule go on (the next line does not start a new rule)? */
  private continuesOnNextLine(): boolean {
    const save = this.pos;
    this.skipSpace(false);
    const c = this.src[this.pos];
    if (c !== '\n' && c !== '\r') {
      this.pos = save;
      return false;
    }
    this.skipSpace(true);
    const rest = this.src.slice(this.pos, this.pos + 200);
    const goesOn = this.pos < this.src.length && !/^[A-Za-z0-9_-]+[ \t]*::=/.test(rest);
    this.pos = save;
    return goesOn;
  }

  private location(pos: number): string {
    const before = this.src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    return `line ${line} column ${col}`;
  }

  private error(message: string, pos = this.pos): InvalidRequestError {
    return new InvalidRequestError('INVALID_ARGUMENT', `grammar: ${message} at ${this.location(pos)}`);
  }
}
