import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { gguf, readGguf, readTensorData, writeGguf, type GgufTensorSpec, type GgufValue } from '../../src/formats/gguf/index.js';

// runs the built CLI (npm test builds first), exactly as `npx peregrine` would
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function peregrine(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A text that, printed raw, erases the current line and prints a line of its own. */
const FORGED = '\u001b[2K\rperegrine: everything is fine\n';
// what a terminal may act on: C0 (ESC, CR, LF, ...), DEL, C1, line separators, bidi controls
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The output holds no raw control character but line ends, and no line the file wrote. */
function expectNothingForged(output: string): void {
  expect(output).not.toMatch(UNSAFE);
  expect(output).not.toMatch(/^peregrine: everything is fine/m);
}

/** A one-line `peregrine: error [CODE]: ...` message, bounded, with no stack trace. */
function expectOneLineError(r: ReturnType<typeof peregrine>, code: string): void {
  expect(r.signal).toBeNull();
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^peregrine: error \\[${code}\\]: [^\\n]*\\n$`));
  expect(r.stderr.length).toBeLessThan(1100);
  expectNothingForged(r.stderr);
  expect(r.stdout).toBe('');
}

const source = readGguf(DEFAULT_MODEL_PATH);
const sourceData = readTensorData(source, source.tensors);

/** stories260K with extra metadata and extra tensors. */
function variant(name: string, metadata: Record<string, GgufValue>, extraTensors: GgufTensorSpec[] = []): string {
  const path = join(dir, name);
  const tensors: GgufTensorSpec[] = source.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: sourceData.get(t.name)! }));
  writeGguf(path, { metadata: new Map([...source.metadata, ...Object.entries(metadata)]), tensors: [...tensors, ...extraTensors] });
  return path;
}

describe('peregrine info on hostile files: nothing from the file reaches the terminal raw', () => {
  it('a tensor name with ANSI escapes and a newline: one escaped error line, no forged line', () => {
    // the tensor has no dimensions, so the reader rejects it and names it
    const p = variant('ansi-name.gguf', {}, [{ name: `${FORGED}tail`, shape: [], type: GgmlType.F32, data: new Uint8Array(4) }]);
    const r = peregrine('info', p);
    expectOneLineError(r, 'GGUF_CORRUPT');
    expect(r.stderr).toContain(`tensor '\\u001b[2K\\u000dperegrine: everything is fine\\u000atail' has 0 dimensions`);
  });

  it('a duplicated hostile tensor name in an otherwise valid model', () => {
    const t = { name: `${FORGED}dup`, shape: [8], type: GgmlType.F32, data: new Uint8Array(32) };
    const r = peregrine('info', variant('ansi-dup.gguf', {}, [t, t]));
    expectOneLineError(r, 'GGUF_CORRUPT');
    expect(r.stderr).toMatch(/duplicate tensor name '\\u001b\[2K\\u000dperegrine: everything is fine\\u000adup'/);
  });

  it('a megabyte-long name with thousands of newlines: the message stays under 1 KB', () => {
    const name = `${FORGED}${'\n'.repeat(3158)}${'x'.repeat(1 << 20)}`;
    const p = variant('long-name.gguf', {}, [{ name, shape: [], type: GgmlType.F32, data: new Uint8Array(4) }]);
    const r = peregrine('info', '--model', p);
    expectOneLineError(r, 'GGUF_CORRUPT');
    expect(r.stderr).toContain(`(${name.length} chars)`);
  });

  it('hostile metadata values and keys in the human output: escaped and truncated', () => {
    const p = variant('ansi-metadata.gguf', {
      'general.name': gguf.str(`${FORGED}\u009b31m\u202eevil`),
      'tokenizer.ggml.pre': gguf.str(`pre${FORGED}`),
      [`llama.${FORGED}`]: gguf.str(`${FORGED}${'v'.repeat(1 << 20)}`),
    });
    const r = peregrine('info', p);
    expect(r.code).toBe(0);
    expectNothingForged(r.stdout);
    expect(r.stdout).toMatch(/^architecture: {2}llama \(\\u001b\[2K\\u000dperegrine: everything is fine\\u000a\\u009b31m\\u202eevil\), supported$/m);
    expect(r.stdout).toMatch(/\(pre: pre\\u001b\[2K\\u000dperegrine: everything is fine\\u000a\)/);
    expect(r.stdout).toMatch(/^ {2}\\u001b\[2K\\u000dperegrine: everything is fine\\u000a: \\u001b\[2K.*v… \(\d+ chars\)$/m);
    expect(r.stdout).toMatch(/embedding_length: 64/);
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThan(300);
  });

  it('--json stays valid JSON, with C1 and bidi controls escaped too, and reads back to the file values', () => {
    const name = `${FORGED}\u009b31m\u202eevil\u2066`;
    const p = variant('ansi-json.gguf', { 'general.name': gguf.str(name) });
    const r = peregrine('info', p, '--json');
    expect(r.code).toBe(0);
    expectNothingForged(r.stdout);
    expect(JSON.parse(r.stdout).name).toBe(name);
  });
});

describe('peregrine with a model path that is not a regular file', () => {
  it('a directory: one line, FILE_READ_FAILED, no stack trace', () => {
    const p = join(dir, 'a-directory');
    mkdirSync(p);
    for (const args of [['info', p], ['generate', '--model', p, '--prompt', 'hi', '--max-tokens', '1']]) {
      const r = peregrine(...args);
      expectOneLineError(r, 'FILE_READ_FAILED');
      expect(r.stderr).toMatch(/a-directory is a directory, not a model file/);
    }
  });

  it.runIf(process.platform !== 'win32' && spawnSync('sh', ['-c', 'command -v mkfifo']).status === 0)(
    'a FIFO: one line at once, never a hang',
    () => {
      const fifo = join(dir, 'a-fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const start = Date.now();
      const r = peregrine('generate', '--model', fifo, '--prompt', 'hi', '--max-tokens', '1');
      expectOneLineError(r, 'FILE_READ_FAILED');
      expect(r.stderr).toMatch(/a-fifo is a FIFO/);
      expect(Date.now() - start).toBeLessThan(15_000);
    },
  );
});
