import { ModelLoadError } from '../errors/engine-error.js';
import {
  splitDigitGroups,
  splitGpt2,
  splitLlama3,
  splitNewlines,
  splitQwen2,
  splitQwen35,
  type CustomSplitter,
} from './custom-splitters.js';
import { CodepointFlag, codepointFlags } from './unicode-flags.js';

/**
 * Pre-tokenization as llama.cpp's unicode_regex_split does it: each expression in turn splits
 * every chunk left by the previous one (matches and the gaps between them both become chunks).
 * Known expressions use hand-written splitters; the rest run as regexes with llama.cpp's
 * std::regex semantics:
 * - an expression using \p{L}, \p{N}, \p{P}, \p{M}, \p{S} (or \p{Lu} etc., all treated as \p{L})
 *   runs on a "collapsed" text where every non-ASCII codepoint is one byte standing for its
 *   category (0xD1 number, 0xD2 letter, 0xD3 punctuation, 0xD4 mark, 0xD5 symbol, 0x0B
 *   whitespace, 0xD0 anything else), with each \p{X} rewritten to that byte plus its ASCII members;
 * - any other expression runs on the codepoints, with non-ASCII whitespace turned into 0x0B and
 *   \s meaning ASCII whitespace only.
 */

const CUSTOM_SPLITTERS = new Map<string, CustomSplitter>([
  ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", splitGpt2],
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitLlama3,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitLlama3,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitQwen2,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitQwen35,
  ],
  ['[^\\n]+|[\\n]+', splitNewlines],
  ['\\p{AFMoE_digits}', splitDigitGroups],
  ['\\d{1,3}(?=(?:\\d{3})*\\b)', splitDigitGroups],
]);

const { NUMBER, LETTER, PUNCTUATION, ACCENT_MARK, SYMBOL, WHITESPACE, CATEGORY_MASK } = CodepointFlag;

const CATEGORY_ESCAPES = new Map<string, number>([
  ['\\p{N}', NUMBER],
  ['\\p{L}', LETTER],
  ['\\p{P}', PUNCTUATION],
  ['\\p{M}', ACCENT_MARK],
  ['\\p{S}', SYMBOL],
  ['\\p{Lu}', LETTER],
  ['\\p{Ll}', LETTER],
  ['\\p{Lt}', LETTER],
  ['\\p{Lm}', LETTER],
  ['\\p{Lo}', LETTER],
]);

/** category → [its byte in the collapsed text, its ASCII members as class contents] */
const COLLAPSED_CATEGORY = new Map<number, readonly [string, string]>([
  [NUMBER, ['\xD1', '0-9']],
  [LETTER, ['\xD2', 'A-Za-z']],
  [PUNCTUATION, ['\xD3', '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}']],
  [ACCENT_MARK, ['\xD4', '']],
  [SYMBOL, ['\xD5', '\\$\\+<->^`\\|\\~']],
]);
const COLLAPSED_WHITESPACE = 0x0b;
const COLLAPSED_OTHER = 0xd0;

function usesCategories(expr: string): boolean {
  for (const escape of CATEGORY_ESCAPES.keys()) if (expr.includes(escape)) return true;
  return false;
}

/** Rewrites \p{X} for the collapsed text, exactly as llama.cpp does (including its bracket tracking). */
function collapseExpression(expr: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '[' && (i === 0 || expr[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && c === ']' && expr[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (c === '\\' && i + 3 < expr.length && expr[i + 1] === 'p' && expr[i + 2] === '{') {
      const close = expr.indexOf('}', i + 3);
      if (close !== -1 && close <= i + 10) {
        const category = CATEGORY_ESCAPES.get(expr.slice(i, close + 1));
        if (category !== undefined) {
          const [byte, ascii] = COLLAPSED_CATEGORY.get(category)!;
          out += inside ? byte + ascii : `[${byte}${ascii}]`;
          i = close;
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}

const ASCII_SPACE_CLASS = '\\t\\n\\v\\f\\r ';

/** Makes \s and \S mean ASCII whitespace only, as they do in std::regex under the C locale. */
function asciiWhitespaceOnly(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length) {
      const e = src[i + 1]!;
      i++;
      if (e === 's') out += inClass ? ASCII_SPACE_CLASS : `[${ASCII_SPACE_CLASS}]`;
      else if (e === 'S' && !inClass) out += `[^${ASCII_SPACE_CLASS}]`;
      else out += c + e;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return out;
}

interface CompiledExpression {
  readonly regex: RegExp;
  readonly isCollapsed: boolean;
}

function compileExpression(expr: string): CompiledExpression {
  const isCollapsed = usesCategories(expr);
  try {
    if (isCollapsed) {
      for (const ch of expr) {
        if (ch.codePointAt(0)! >= 0x80) throw new Error('mixes unicode categories with non-ASCII characters');
      }
      return { regex: new RegExp(asciiWhitespaceOnly(collapseExpression(expr)), 'g'), isCollapsed };
    }
    return { regex: new RegExp(asciiWhitespaceOnly(expr), 'gu'), isCollapsed };
  } catch (err) {
    throw new ModelLoadError('UNSUPPORTED_TOKENIZER', `pre-tokenizer regex cannot be compiled: ${JSON.stringify(expr)}`, {
      cause: err,
    });
  }
}

/** Splits text into words with a fixed list of expressions (validated at construction). */
export class RegexSplitter {
  private readonly steps: readonly (CustomSplitter | CompiledExpression)[];

  constructor(readonly expressions: readonly string[]) {
    this.steps = expressions.map((expr) => CUSTOM_SPLITTERS.get(expr) ?? compileExpression(expr));
  }

  split(text: string): string[] {
    // [numCodepoints] u32 codepoints; [numCodepoints + 1] UTF-16 offset of each codepoint
    const numUnits = text.length;
    const cpts = new Uint32Array(numUnits);
    const unitStart = new Int32Array(numUnits + 1);
    let n = 0;
    for (let i = 0; i < numUnits; ) {
      const cp = text.codePointAt(i)!;
      unitStart[n] = i;
      cpts[n++] = cp;
      i += cp > 0xffff ? 2 : 1;
    }
    unitStart[n] = numUnits;
    const codepoints = cpts.subarray(0, n);

    let offsets: number[] = [n];
    let collapsed: string | undefined;
    let wide: WideText | undefined;
    for (const step of this.steps) {
      if (typeof step === 'function') {
        offsets = step(codepoints, offsets);
      } else if (step.isCollapsed) {
        collapsed ??= collapseText(codepoints);
        offsets = splitWithRegex(step.regex, offsets, collapsed, identity, identity);
      } else {
        wide ??= wideText(text, codepoints, unitStart);
        const w = wide;
        offsets = splitWithRegex(step.regex, offsets, w.text, (cp) => unitStart[cp]!, (unit) => w.codepointAt[unit]!);
      }
    }

    const words: string[] = new Array(offsets.length);
    let start = 0;
    for (let i = 0; i < offsets.length; i++) {
      const end = start + offsets[i]!;
      words[i] = text.slice(unitStart[start]!, unitStart[end]!);
      start = end;
    }
    return words;
  }
}

const identity = (x: number): number => x;

function collapseText(cpts: Uint32Array): string {
  const codes = new Uint8Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) {
    const cp = cpts[i]!;
    if (cp < 0x80) {
      codes[i] = cp;
      continue;
    }
    const flags = codepointFlags(cp);
    if (flags & WHITESPACE) codes[i] = COLLAPSED_WHITESPACE;
    else codes[i] = COLLAPSED_CATEGORY.get(flags & CATEGORY_MASK)?.[0].charCodeAt(0) ?? COLLAPSED_OTHER;
  }
  let out = '';
  const CHUNK = 8192;
  for (let i = 0; i < codes.length; i += CHUNK) out += String.fromCharCode(...codes.subarray(i, i + CHUNK));
  return out;
}

interface WideText {
  /** the text with non-ASCII whitespace replaced by 0x0B (same UTF-16 layout) */
  readonly text: string;
  /** [numUnits + 1] codepoint index at each UTF-16 offset */
  readonly codepointAt: Int32Array;
}

function wideText(text: string, cpts: Uint32Array, unitStart: Int32Array): WideText {
  const codepointAt = new Int32Array(text.length + 1);
  let replaced = '';
  let copiedTo = 0;
  for (let i = 0; i < cpts.length; i++) {
    const u = unitStart[i]!;
    codepointAt[u] = i;
    if (u + 1 < unitStart[i + 1]!) codepointAt[u + 1] = i;
    const cp = cpts[i]!;
    if (cp > 0x7f && codepointFlags(cp) & WHITESPACE) {
      replaced += text.slice(copiedTo, u) + '\x0B';
      copiedTo = u + 1; // every whitespace codepoint is one UTF-16 unit
    }
  }
  codepointAt[text.length] = cpts.length;
  return { text: replaced + text.slice(copiedTo), codepointAt };
}

/**
 * std::regex_iterator over each chunk: every match becomes a word and so does every gap between
 * matches. `toUnit` maps a codepoint index to a string index, `toCodepoint` the reverse.
 */
function splitWithRegex(
  regex: RegExp,
  offsets: readonly number[],
  text: string,
  toUnit: (cp: number) => number,
  toCodepoint: (unit: number) => number,
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const end = start + offset;
    const chunkStart = toUnit(start);
    const chunk = text.slice(chunkStart, toUnit(end));
    let prevEnd = start;
    regex.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = regex.exec(chunk)) !== null) {
      const matchStart = toCodepoint(chunkStart + m.index);
      const matchEnd = toCodepoint(chunkStart + m.index + m[0].length);
      if (matchStart > prevEnd) out.push(matchStart - prevEnd);
      out.push(matchEnd - matchStart);
      prevEnd = matchEnd;
      if (m[0].length === 0) regex.lastIndex += regex.unicode && (chunk.codePointAt(regex.lastIndex) ?? 0) > 0xffff ? 2 : 1;
    }
    if (prevEnd < end) out.push(end - prevEnd);
    start = end;
  }
  return out;
}
