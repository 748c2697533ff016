import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { MetadataReader, readGguf, readTensorData } from '../formats/gguf/index.js';
import { dequantize, quantize } from './index.js';
import { resolveModelShape } from '../testing/model-shapes.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { quantizeModelFile } from './quantize-model.js';

const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-quantize-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quantizeModelFile', () => {
  it('reports progress over every input byte, in order, per tensor; sets file type and quantization version', async () => {
    const calls: [number, number, string][] = [];
    const out = join(dir, 'q4.gguf');
    const report = await quantizeModelFile(STORIES, out, { format: 'Q4_0', onProgress: (d, t, n) => void calls.push([d, t, n]) });
    const total = readGguf(STORIES).tensors.reduce((s, t) => s + t.byteSize, 0);
    expect(calls.at(-1)!.slice(0, 2)).toEqual([total, total]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThan(calls[i - 1]![0]);
    expect(new Set(calls.map((c) => c[2]))).toEqual(new Set(report.tensors.map((t) => t.name)));
    const meta = new MetadataReader(readGguf(out).metadata, out);
    expect(meta.number('general.file_type')).toBe(2);
    expect(meta.number('general.quantization_version')).toBe(2);
    expect(report.outputTensorBytes).toBeLessThan(report.inputTensorBytes / 4);
  });

  it('streams a tensor larger than one chunk in chunks of whole rows (same bytes as one pass)', async () => {
    // 'tiny' with a 8192-token vocabulary: token_embd and output are 2M values, two chunks each
    const input = join(dir, 'big-vocab.gguf');
    writeSyntheticModel(input, { shape: { ...resolveModelShape('tiny'), numLayers: 1, vocabSize: 8192 }, weightType: 'F16', seed: 2 });
    const calls: string[] = [];
    const out = join(dir, 'big-vocab-q8.gguf');
    await quantizeModelFile(input, out, { format: 'Q8_0', onProgress: (_d, _t, name) => void calls.push(name) });
    expect(calls.filter((n) => n === 'token_embd.weight')).toHaveLength(2);
    const source = readGguf(input);
    const info = source.tensors.find((t) => t.name === 'token_embd.weight')!;
    const whole = quantize(GgmlType.Q8_0, dequantize(info.type, readTensorData(source, [info]).get(info.name)!, info.numElements));
    const written = readGguf(out);
    const outInfo = written.tensors.find((t) => t.name === 'token_embd.weight')!;
    expect(Buffer.from(readTensorData(written, [outInfo]).get(outInfo.name)!).equals(Buffer.from(whole))).toBe(true);
  });

  it.each([1, 2])('stops on abort (%i threads), removing its temporary file and writing nothing at the output', async (threads) => {
    const controller = new AbortController();
    const out = join(dir, 'aborted.gguf');
    const before = readdirSync(dir);
    await expect(
      quantizeModelFile(STORIES, out, { format: 'Q8_0', threads, signal: controller.signal, onProgress: () => controller.abort(new Error('stop here')) }),
    ).rejects.toThrow('stop here');
    expect(readdirSync(dir)).toEqual(before);
  });

  it('writes the same bytes with 1, 2 and 3 threads, for every kind of format, calibrated too', async () => {
    // one layer; with a 4100-token vocabulary token_embd and output are two chunks each (4096 rows, then 4)
    const wide = join(dir, 'threads-wide.gguf');
    writeSyntheticModel(wide, { shape: { ...resolveModelShape('tiny'), numLayers: 1, vocabSize: 4100 }, weightType: 'F16', seed: 5 });
    const small = join(dir, 'threads-small.gguf');
    writeSyntheticModel(small, { shape: { ...resolveModelShape('tiny'), numLayers: 1 }, weightType: 'F16', seed: 6 });
    const calibrationText = 'the cat sat on the mat. a dog ran after it, and the cat ran up a tree.';
    const runs: { input: string; format: string; threads: number; calibrationText?: string }[] = [
      { input: wide, format: 'Q8_0', threads: 2 },
      { input: wide, format: 'Q4_0', threads: 3 },
      { input: wide, format: 'MXFP4', threads: 2 },
      { input: small, format: 'Q4_K_M', threads: 2 },
      { input: small, format: 'Q5_K', threads: 2 },
      { input: small, format: 'Q6_K', threads: 2 },
      { input: small, format: 'NVFP4', threads: 3 },
      { input: small, format: 'FP8_E4M3', threads: 2 },
      { input: small, format: 'Q4_K', threads: 2, calibrationText },
    ];
    for (const { input, format, threads, calibrationText } of runs) {
      const name = `${format}${calibrationText ? ' calibrated' : ''}`;
      const one = join(dir, `threads-${name}-1.gguf`);
      const report = await quantizeModelFile(input, one, { format, threads: 1, ...(calibrationText && { calibrationText }) });
      // calibrated: column scales, importance and new norm values went to the workers
      if (calibrationText) expect(report.calibration!.groups.some((g) => g.alpha > 0), name).toBe(true);
      const many = join(dir, `threads-${name}-${threads}.gguf`);
      expect(await quantizeModelFile(input, many, { format, threads, ...(calibrationText && { calibrationText }) })).toEqual({ ...report, outputPath: many });
      expect(readFileSync(many).equals(readFileSync(one)), `${name}, ${threads} threads`).toBe(true);
    }
  }, 120_000);
});
