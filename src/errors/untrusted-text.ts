/**
 * Text from untrusted sources (names, keys and values read from model files; paths) on its way
 * to a terminal or a log. Raw, it could move the cursor, erase lines or reorder what is shown
 * (ANSI escapes, newlines, bidi overrides) and make a message megabytes long; rendered here it
 * is visibly escaped and bounded.
 */

/**
 * Characters a terminal may act on instead of print: C0 controls (newline, ESC, ...), DEL,
 * C1 controls (U+009B is a one-character CSI on some terminals), line and paragraph
 * separators, and the bidi marks, embeddings, overrides and isolates that reorder text.
 */
const NON_C0_UNSAFE_RANGES = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE_CHARS = new RegExp(`[\\u0000-\\u001f${NON_C0_UNSAFE_RANGES}]`);
const UNSAFE_CHARS_GLOBAL = new RegExp(UNSAFE_CHARS.source, 'g');
const UNSAFE_NON_C0_GLOBAL = new RegExp(`[${NON_C0_UNSAFE_RANGES}]`, 'g');

/** `\u001b` for ESC: the JSON spelling, so the escaped text stays valid inside a JSON string. */
function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Replaces only the unsafe characters with `\uXXXX` (backslashes are left alone, so applying it
 * twice changes nothing). For whole messages, where parts may already be escaped.
 */
export function escapeControlChars(text: string): string {
  return text.replace(UNSAFE_CHARS_GLOBAL, escapeChar);
}

/**
 * `JSON.stringify` for a terminal: JSON escapes C0 controls inside strings but leaves DEL, C1,
 * line separators and bidi controls raw; those become `\uXXXX` too, so the text stays valid
 * JSON that parses back to the same values. (The raw C0 left are the indentation's newlines.)
 */
export function stringifyForTerminal(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(UNSAFE_NON_C0_GLOBAL, escapeChar);
}

/** Default bound for a name, key or value quoted inside a message, in output characters. */
export const UNTRUSTED_TEXT_MAX_CHARS = 80;

/** One code point as shown: backslash doubled, unsafe characters as `\uXXXX`, others as they are. */
function renderCodePoint(c: string): string {
  if (c === '\\') return '\\\\';
  return UNSAFE_CHARS.test(c) ? escapeChar(c) : c;
}

/**
 * One untrusted string rendered for a message: unsafe characters and backslashes escaped
 * JSON-style (`\u001b`, `\\`), and at most about `maxChars` characters of output; longer text
 * ends with `…` and its full length, e.g. `xxxxxxxx… (1048576 chars)`.
 */
export function untrustedText(text: string, maxChars: number = UNTRUSTED_TEXT_MAX_CHARS): string {
  let out = '';
  // a code point at a time, so a surrogate pair is never cut in half
  for (const c of text) {
    const piece = renderCodePoint(c);
    if (out.length + piece.length > maxChars) return `${out}… (${text.length} chars)`;
    out += piece;
  }
  return out;
}

/** Default bound for a file path in a message: long enough for any real path's useful part. */
export const UNTRUSTED_PATH_MAX_CHARS = 240;

/**
 * A path for a message: unsafe characters escaped (backslashes kept: they separate Windows
 * paths); a long one keeps its first third and its end (where the file name is), with `…` between.
 */
export function untrustedPath(path: string, maxChars: number = UNTRUSTED_PATH_MAX_CHARS): string {
  if (path.length <= maxChars && !UNSAFE_CHARS.test(path)) return path;
  const pieces = Array.from(path, (c) => (UNSAFE_CHARS.test(c) ? escapeChar(c) : c));
  const total = pieces.reduce((n, p) => n + p.length, 0);
  if (total <= maxChars) return pieces.join('');
  let head = '';
  let i = 0;
  for (; i < pieces.length && head.length + pieces[i]!.length <= maxChars / 3; i++) head += pieces[i];
  let tail = '';
  for (let j = pieces.length - 1; j > i && head.length + tail.length + pieces[j]!.length < maxChars; j--) {
    tail = pieces[j] + tail;
  }
  return `${head}…${tail}`;
}

/** The longest message an EngineError carries, in characters. */
/** the most a message may take, in UTF-8 bytes (so in characters too) */
export const MAX_MESSAGE_BYTES = 1024;

/**
 * The last line of defence for every EngineError message: unsafe characters escaped (idempotent,
 * so parts already rendered with `untrustedText` are unchanged) and the length bounded in bytes.
 */
export function boundedMessage(message: string): string {
  // escaping never shortens text: the first MAX_MESSAGE_BYTES characters are all that can be kept
  const escaped = escapeControlChars(message.length > MAX_MESSAGE_BYTES ? message.slice(0, MAX_MESSAGE_BYTES) : message);
  if (message.length <= MAX_MESSAGE_BYTES && Buffer.byteLength(escaped) <= MAX_MESSAGE_BYTES) return escaped;
  const suffix = `… (message of ${message.length} chars cut)`;
  const budget = MAX_MESSAGE_BYTES - Buffer.byteLength(suffix);
  let head = escaped.slice(0, budget);
  for (let excess = Buffer.byteLength(head) - budget; excess > 0; excess = Buffer.byteLength(head) - budget) {
    head = head.slice(0, head.length - Math.ceil(excess / 4)); // a character is at most 4 bytes
  }
  // do not leave half a surrogate pair
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return head + suffix;
}
