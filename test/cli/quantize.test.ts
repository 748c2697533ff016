import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf, readTensorData } from '../../src/formats/gguf/index.js';
import { ggmlTypeName } from '../../src/formats/ggml-type.js';
import { inProcess } from './in-process.js';

// runs the built CLI (npm test builds first), exactly as `npx peregrine` would
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-cli-quantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** in a process of its own, for what reaches a non-TTY stderr and the exit status as a shell sees it */
function peregrine(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('peregrine quantize', () => {
  it('writes the format, prints one summary line on a non-TTY stderr (no bar) and the report with --json', async () => {
    const out = join(dir, 'q8.gguf');
    const r = peregrine('quantize', '--input', STORIES, '--output', out, '--format', 'q8_0', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^peregrine: .*q8\.gguf: Q8_0 \(file type 7\), 1\.13 MiB \(32\.00 bits\/weight\) -> 0\.36 MiB \(\d+\.\d+ bits\/weight\), 37 of 48 tensors converted, 5 in a fallback type/);
    expect(r.stderr).not.toContain('\r');
    const report = JSON.parse(r.stdout);
    expect(report.format).toBe('Q8_0');
    const types = Object.fromEntries(readGguf(out).tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
    expect(Object.fromEntries(report.tensors.map((t: { name: string; outputType: string }) => [t.name, t.outputType]))).toEqual(types);
    expect(types['blk.0.attn_q.weight']).toBe('Q8_0');
    expect(types['blk.0.attn_norm.weight']).toBe('F32');
    expect(types['blk.0.ffn_down.weight']).toBe('F16'); // rows of 172: llama-quantize's fallback
    // the model runs
    const g = await inProcess('generate', '--model', out, '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0');
    expect(g.code).toBe(0);
    expect(g.stdout.length).toBeGreaterThan(8);
  });

  it('--threads N: the same file with 1 and 2 threads (the built CLI starts its workers from dist/), in --help, 0 refused', () => {
    const one = join(dir, 'threads-1.gguf');
    const two = join(dir, 'threads-2.gguf');
    expect(peregrine('quantize', '--input', STORIES, '--output', one, '--format', 'Q4_K', '--threads', '1').code).toBe(0);
    const r = peregrine('quantize', '--input', STORIES, '--output', two, '--format', 'Q4_K', '--threads', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(two).equals(readFileSync(one))).toBe(true);
    expect(peregrine('quantize', '--help').stdout).toMatch(/--threads N +threads converting tensors .*\(default: all cores\)/s);
    const zero = peregrine('quantize', '--input', STORIES, '--output', join(dir, 'threads-0.gguf'), '--format', 'Q4_K', '--threads', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/error \[INVALID_ARGUMENT\]: --threads must be from 1 to \d+/);
  });

  it('--keep leaves matching tensors in their input type', async () => {
    const out = join(dir, 'keep.gguf');
    const r = await inProcess('quantize', '--input', STORIES, '--output', out, '--format', 'Q4_0', '--keep', '^blk\\.0\\.', '--keep', 'attn_q');
    expect(r.code).toBe(0);
    const types = Object.fromEntries(readGguf(out).tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
    expect(types['blk.0.attn_k.weight']).toBe('F32');
    expect(types['blk.3.attn_q.weight']).toBe('F32');
    expect(types['blk.3.attn_k.weight']).toBe('Q4_0');
  });

  it('--calibration calibrates the 4-bit tensors on a text, says what it changed, and folds the scales into the norms', async () => {
    const text = join(dir, 'calibration.txt');
    writeFileSync(text, 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.\n'.repeat(8));
    const out = join(dir, 'calibrated.gguf');
    const r = await inProcess('quantize', '--input', STORIES, '--output', out, '--format', 'Q4_0', '--calibration', text, '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/peregrine: calibrated on \d+ tokens \(1 windows\): 30 tensors rounded by importance, \d+ of 10 norms' matrices scaled \(AWQ\); tensors in other types are quantized as without calibration/);
    const report = JSON.parse(r.stdout);
    const scaled = report.calibration.groups.filter((g: { alpha: number }) => g.alpha > 0).map((g: { norm: string }) => g.norm);
    expect(scaled.length).toBeGreaterThan(0);
    const norm = (path: string): Uint8Array => {
      const file = readGguf(path);
      return readTensorData(file, [file.tensors.find((t) => t.name === scaled[0])!]).get(scaled[0])!;
    };
    expect(Buffer.from(norm(out)).equals(Buffer.from(norm(STORIES)))).toBe(false);
    const g = await inProcess('generate', '--model', out, '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0');
    expect(g.code).toBe(0);
    const missing = await inProcess('quantize', '--input', STORIES, '--output', join(dir, 'z.gguf'), '--format', 'Q4_0', '--calibration', join(dir, 'none.txt'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error \[INVALID_ARGUMENT\]: --calibration: cannot read .*none\.txt: ENOENT/);
  });

  it('refuses bad input with exit 2 and a typed error, leaving no file behind', async () => {
    const before = readdirSync(dir).length;
    const missing = await inProcess('quantize', '--input', STORIES, '--format', 'Q8_0');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error \[INVALID_ARGUMENT\]: --output is required/);
    const unknown = await inProcess('quantize', '--input', STORIES, '--output', join(dir, 'x.gguf'), '--format', 'Q3_K');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown quantization format 'Q3_K'; formats: .*Q8_0.*MXFP4/);
    const pattern = await inProcess('quantize', '--input', STORIES, '--output', join(dir, 'x.gguf'), '--format', 'Q8_0', '--keep', '(');
    expect(pattern.code).toBe(2);
    expect(pattern.stderr).toMatch(/keep pattern '\(' is not a valid regular expression/);
    const noDir = await inProcess('quantize', '--input', STORIES, '--output', join(dir, 'missing', 'x.gguf'), '--format', 'Q8_0');
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toMatch(/error \[INVALID_ARGUMENT\]: cannot write .*x\.gguf: ENOENT/);
    const same = await inProcess('quantize', '--input', STORIES, '--output', STORIES, '--format', 'Q8_0');
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/is the input file/);
    expect(readdirSync(dir).length).toBe(before);
  });

  it('refuses an already quantized model (ALREADY_QUANTIZED, exit 2) and a file that is not a model (exit 1)', async () => {
    const q = join(dir, 'q4.gguf');
    expect((await inProcess('quantize', '--input', STORIES, '--output', q, '--format', 'Q4_0')).code).toBe(0);
    const again = await inProcess('quantize', '--input', q, '--output', join(dir, 'again.gguf'), '--format', 'Q8_0');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/error \[ALREADY_QUANTIZED\]: tensor '.*' is already quantized \(Q\d_0\)/);
    expect(existsSync(join(dir, 'again.gguf'))).toBe(false);
    const notModel = await inProcess('quantize', '--input', CLI, '--output', join(dir, 'y.gguf'), '--format', 'Q8_0');
    expect(notModel.code).toBe(1);
    expect(notModel.stderr).toMatch(/error \[GGUF_BAD_MAGIC\]/);
  });
});
