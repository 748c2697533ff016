import { describe, expect, it } from 'vitest';
import { EngineError, ModelLoadError } from './engine-error.js';
import { boundedMessage, escapeControlChars, MAX_MESSAGE_BYTES, stringifyForTerminal, untrustedPath, untrustedText } from './untrusted-text.js';

// every character a terminal may act on: C0, DEL, C1, ALM, LRM/RLM, LS/PS, bidi embeddings/overrides/isolates
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const FORGED = '\u001b[2K\rperegrine: everything is fine\n';

describe('untrustedText', () => {
  it('leaves ordinary names alone', () => {
    expect(untrustedText('blk.0.attn_q.weight')).toBe('blk.0.attn_q.weight');
    expect(untrustedText('héllo ▁ 🐦 日本')).toBe('héllo ▁ 🐦 日本');
    expect(untrustedText('')).toBe('');
  });

  it('escapes controls, DEL, C1, line separators and bidi controls visibly, JSON-style', () => {
    expect(untrustedText(FORGED)).toBe('\\u001b[2K\\u000dperegrine: everything is fine\\u000a');
    expect(untrustedText('a\u0000b\u007fc\u009bd\u0085e')).toBe('a\\u0000b\\u007fc\\u009bd\\u0085e');
    expect(untrustedText('x\u202ey\u2066z\u2069\u2028\u200f')).toBe('x\\u202ey\\u2066z\\u2069\\u2028\\u200f');
    // a backslash is doubled, so a name cannot pose as an escape
    expect(untrustedText('a\\u001bb')).toBe('a\\\\u001bb');
    // the escaped text reads back as the original through JSON
    const all = Array.from({ length: 0x2070 }, (_, i) => String.fromCharCode(i)).join('').replace(/[\ud800-\udfff]/g, '');
    const shown = untrustedText(all, Number.MAX_SAFE_INTEGER);
    expect(shown).not.toMatch(UNSAFE);
    expect(JSON.parse(`"${shown.replace(/"/g, '\\"')}"`)).toBe(all);
  });

  it('truncates long text with an ellipsis and the full length', () => {
    const name = 'x'.repeat(1 << 20);
    const shown = untrustedText(name);
    expect(shown).toBe(`${'x'.repeat(80)}… (1048576 chars)`);
    expect(untrustedText('y'.repeat(80))).toBe('y'.repeat(80));
    // the bound is on what is shown, escapes included
    expect(untrustedText('\n'.repeat(3158)).length).toBeLessThan(110);
    expect(untrustedText('\n'.repeat(3158))).not.toMatch(UNSAFE);
  });

  it('never cuts a surrogate pair in half', () => {
    const shown = untrustedText('a' + '🐦'.repeat(100), 10);
    expect(shown.startsWith('a🐦🐦🐦🐦… (')).toBe(true);
    expect(shown).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe('untrustedPath', () => {
  it('keeps ordinary and Windows paths as they are', () => {
    expect(untrustedPath('/models/stories260K/stories260K.gguf')).toBe('/models/stories260K/stories260K.gguf');
    expect(untrustedPath('C:\\models\\x.gguf')).toBe('C:\\models\\x.gguf');
  });
  it('escapes controls and keeps the start and the file name of a long path', () => {
    expect(untrustedPath(`/tmp/${FORGED}.gguf`)).toBe('/tmp/\\u001b[2K\\u000dperegrine: everything is fine\\u000a.gguf');
    const long = `/${'d/'.repeat(5000)}model.gguf`;
    const shown = untrustedPath(long);
    expect(shown.length).toBeLessThanOrEqual(240);
    expect(shown.startsWith('/d/d/')).toBe(true);
    expect(shown.endsWith('d/model.gguf')).toBe(true);
    expect(shown).toContain('…');
  });
});

describe('stringifyForTerminal', () => {
  it('is valid JSON with no unsafe character but the indentation newlines, and reads back', () => {
    const value = { name: `${FORGED}\u009b31m\u202eevil\u2066\u007f`, n: 1, nested: { k: ['\u2028'] } };
    const json = stringifyForTerminal(value, 2);
    expect(json.replace(/\n/g, '')).not.toMatch(UNSAFE);
    expect(json).toContain('\\u009b31m\\u202eevil\\u2066\\u007f');
    expect(JSON.parse(json)).toEqual(value);
    expect(stringifyForTerminal({ a: 'plain' })).toBe('{"a":"plain"}');
  });
});

describe('boundedMessage and EngineError', () => {
  it('escapes only unsafe characters, idempotently', () => {
    expect(escapeControlChars('a\\b\u001bc')).toBe('a\\b\\u001bc');
    const once = boundedMessage(`tensor '${FORGED}'`);
    expect(boundedMessage(once)).toBe(once);
    expect(once).not.toMatch(UNSAFE);
  });

  it('bounds every EngineError message to 1 KB, whatever a caller passed', () => {
    const err = new ModelLoadError('GGUF_CORRUPT', `architecture '${FORGED.repeat(50_000)}' is not supported`);
    expect(Buffer.byteLength(err.message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(err.message).not.toMatch(UNSAFE);
    expect(err.message).toMatch(/^architecture '\\u001b\[2K/);
    expect(err.message).toMatch(/cut\)$/);
    expect(new EngineError('INVALID_ARGUMENT', 'plain message').message).toBe('plain message');
  });
});
