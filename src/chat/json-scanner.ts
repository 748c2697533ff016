/**
 * What a JsonScanner reports while it reads: where values begin and end (by depth: the number of
 * containers around the value, 0 for the root), the keys of objects, and every significant
 * character (all but the whitespace between tokens), in reading order: valueStart comes before the
 * value's first character, valueEnd after its last (a number's end is only known at the character
 * after it, and is reported before that character's own events).
 */
export interface JsonScanListener {
  valueStart(depth: number, firstChar: string): void;
  valueEnd(depth: number): void;
  /** an object member's key, decoded; `depth` is the depth of the value it names */
  key(depth: number, key: string): void;
  char(ch: string): void;
}

type FrameExpect = 'keyOrEnd' | 'key' | 'colon' | 'value' | 'valueOrEnd' | 'commaOrEnd';

interface Frame {
  readonly type: 'object' | 'array';
  expect: FrameExpect;
}

/** the number grammar's states; complete ones are where a number may end */
type NumberState = 'minus' | 'zero' | 'int' | 'dot' | 'frac' | 'exp' | 'expSign' | 'expDigits';
const COMPLETE_NUMBER: ReadonlySet<NumberState> = new Set(['zero', 'int', 'frac', 'expDigits']);
const LITERALS: Record<string, string> = { t: 'true', f: 'false', n: 'null' };
const HEX = /^[0-9a-fA-F]$/;
const DIGIT = /^[0-9]$/;

type Scalar =
  | { kind: 'string'; isKey: boolean; raw: string; escape: number }
  | { kind: 'number'; state: NumberState }
  | { kind: 'literal'; word: string; at: number };

/**
 * Reads one JSON value (RFC 8259) a character at a time, as a model writes it, and reports its
 * structure to a listener; `push` returns false at the first character that cannot continue a
 * valid JSON text (the scanner is then dead). Nothing is buffered but the current key, so text of
 * any length streams through.
 */
export class JsonScanner {
  private readonly stack: Frame[] = [];
  private scalar: Scalar | undefined;
  private isRootDone = false;
  private isDead = false;

  constructor(private readonly listener: JsonScanListener) {}

  /** the root value has been read completely (a root number: once a character after it arrived) */
  get isComplete(): boolean {
    return this.isRootDone;
  }

  /** whether `ch` continues a valid JSON text; after the root value only whitespace does */
  push(ch: string): boolean {
    if (this.isDead) return false;
    const ok = this.step(ch);
    if (!ok) this.isDead = true;
    return ok;
  }

  private step(ch: string): boolean {
    const scalar = this.scalar;
    if (scalar?.kind === 'number') {
      const next = nextNumberState(scalar.state, ch);
      if (next !== undefined) {
        scalar.state = next;
        this.listener.char(ch);
        return true;
      }
      if (!COMPLETE_NUMBER.has(scalar.state)) return false;
      this.endScalar(); // the number ended before ch; ch is read as structure below
    } else if (scalar?.kind === 'literal') {
      if (ch !== scalar.word[scalar.at]) return false;
      this.listener.char(ch);
      if (++scalar.at === scalar.word.length) this.endScalar();
      return true;
    } else if (scalar?.kind === 'string') {
      return this.stringChar(scalar, ch);
    }
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') return true;
    if (this.isRootDone) return false;
    const frame = this.stack.at(-1);
    const expect = frame?.expect ?? 'value';
    switch (expect) {
      case 'value':
      case 'valueOrEnd':
        if (ch === ']' && expect === 'valueOrEnd') return this.close(ch);
        return this.startValue(ch);
      case 'keyOrEnd':
      case 'key':
        if (ch === '}' && expect === 'keyOrEnd') return this.close(ch);
        if (ch !== '"') return false;
        this.listener.char(ch);
        this.scalar = { kind: 'string', isKey: true, raw: ch, escape: 0 };
        return true;
      case 'colon':
        if (ch !== ':') return false;
        this.listener.char(ch);
        frame!.expect = 'value';
        return true;
      case 'commaOrEnd':
        if (ch === ',') {
          this.listener.char(ch);
          frame!.expect = frame!.type === 'object' ? 'key' : 'value';
          return true;
        }
        if ((ch === '}' && frame!.type === 'object') || (ch === ']' && frame!.type === 'array')) return this.close(ch);
        return false;
    }
  }

  private startValue(ch: string): boolean {
    const depth = this.stack.length;
    let scalar: Scalar | undefined;
    if (ch === '"') scalar = { kind: 'string', isKey: false, raw: '', escape: 0 };
    else if (ch === '-') scalar = { kind: 'number', state: 'minus' };
    else if (DIGIT.test(ch)) scalar = { kind: 'number', state: ch === '0' ? 'zero' : 'int' };
    else if (LITERALS[ch] !== undefined) scalar = { kind: 'literal', word: LITERALS[ch]!, at: 1 };
    else if (ch !== '{' && ch !== '[') return false;
    this.listener.valueStart(depth, ch);
    this.listener.char(ch);
    if (scalar === undefined) this.stack.push({ type: ch === '{' ? 'object' : 'array', expect: ch === '{' ? 'keyOrEnd' : 'valueOrEnd' });
    else this.scalar = scalar;
    return true;
  }

  private stringChar(s: Extract<Scalar, { kind: 'string' }>, ch: string): boolean {
    if (s.isKey) s.raw += ch;
    if (s.escape === 1) {
      if (ch === 'u') s.escape = 5;
      else if ('"\\/bfnrt'.includes(ch)) s.escape = 0;
      else return false;
    } else if (s.escape > 1) {
      if (!HEX.test(ch)) return false;
      s.escape = s.escape === 2 ? 0 : s.escape - 1;
    } else if (ch === '\\') {
      s.escape = 1;
    } else if (ch.charCodeAt(0) < 0x20) {
      return false; // control characters must be escaped
    } else if (ch === '"') {
      this.listener.char(ch);
      if (s.isKey) {
        this.scalar = undefined;
        this.listener.key(this.stack.length, JSON.parse(s.raw) as string);
        this.stack.at(-1)!.expect = 'colon';
      } else {
        this.endScalar();
      }
      return true;
    }
    this.listener.char(ch);
    return true;
  }

  private endScalar(): void {
    this.scalar = undefined;
    this.listener.valueEnd(this.stack.length);
    this.afterValue();
  }

  private close(ch: string): boolean {
    this.listener.char(ch);
    this.stack.pop();
    this.listener.valueEnd(this.stack.length);
    this.afterValue();
    return true;
  }

  private afterValue(): void {
    const frame = this.stack.at(-1);
    if (frame) frame.expect = 'commaOrEnd';
    else this.isRootDone = true;
  }
}

function nextNumberState(state: NumberState, ch: string): NumberState | undefined {
  const isDigit = DIGIT.test(ch);
  switch (state) {
    case 'minus':
      return ch === '0' ? 'zero' : isDigit ? 'int' : undefined;
    case 'zero':
    case 'int':
      if (ch === '.') return 'dot';
      if (ch === 'e' || ch === 'E') return 'exp';
      return state === 'int' && isDigit ? 'int' : undefined;
    case 'dot':
      return isDigit ? 'frac' : undefined;
    case 'frac':
      if (ch === 'e' || ch === 'E') return 'exp';
      return isDigit ? 'frac' : undefined;
    case 'exp':
      return ch === '+' || ch === '-' ? 'expSign' : isDigit ? 'expDigits' : undefined;
    case 'expSign':
    case 'expDigits':
      return isDigit ? 'expDigits' : undefined;
  }
}
