import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatVariants, gateForVariant, measureFormatAccuracy, type AccuracyRow } from '../../bench/format-accuracy.js';
import { plannedSize, plannedTensorTypes, resolveFormatModel } from '../../bench/format-model-files.js';
import { formatFormatsTable, gateCell } from '../../bench/format-table.js';
import { measurePeregrineSpeed } from '../../bench/peregrine-speed.js';
import { checkGate, findGate } from '../../src/eval/accuracy-gates.js';
import { GgmlType, ggmlByteSize } from '../../src/formats/ggml-type.js';
import { readGguf } from '../../src/formats/gguf/index.js';
import { SAMPLED_TEXT } from './helpers.js';

const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const cacheDir = mkdtempSync(join(tmpdir(), 'peregrine-bench-formats-test-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('npm run bench:formats', () => {
  it('variants and gates: 4-bit formats get a calibrated variant held to calibrated-4bit; FP8 is held to fp8, Q6_K to none', () => {
    expect(formatVariants(['Q8_0', 'Q4_0', 'FP8_E4M3', 'MXFP4']).map((v) => `${v.format}${v.isCalibrated ? '+cal' : ''}`)).toEqual(['Q8_0', 'Q4_0', 'Q4_0+cal', 'FP8_E4M3', 'MXFP4', 'MXFP4+cal']);
    expect(gateForVariant({ format: 'FP8_E4M3', isCalibrated: false })?.name).toBe('fp8');
    expect(gateForVariant({ format: 'Q4_K', isCalibrated: true })?.name).toBe('calibrated-4bit');
    expect(gateForVariant({ format: 'Q6_K', isCalibrated: false })).toBeUndefined();
  });

  let rows: AccuracyRow[] = [];
  it("on stories260K and its own text: F32 against itself shows no divergence; Q8_0 meets its gate with its anchor's own figures; NVFP4 keeps ffn_down (rows of 172)", async () => {
    const result = await measureFormatAccuracy([...formatVariants(['F32', 'Q8_0']), { format: 'NVFP4', isCalibrated: false }], {
      referencePath: STORIES,
      evalText: readFileSync(SAMPLED_TEXT, 'utf8'),
    });
    expect([result.numWindows, result.contextSize]).toEqual([3, 512]);
    rows = [...result.rows];
    const [f32, q8, nvfp4] = rows as [AccuracyRow, AccuracyRow, AccuracyRow];
    // the reference's log-probabilities are kept as 16-bit codes, so a model against itself is ±5e-5, not 0
    expect(Math.abs(f32.statistics.kld.mean.value)).toBeLessThan(1e-4);
    expect(f32.statistics.sameTop.value).toBe(1);
    expect(f32.statistics.pplRatio.value).toBeCloseTo(1, 3);
    expect(f32.bitsPerWeight).toBe(32);
    expect(f32.gate).toBeUndefined();
    // the Q8_0 anchor is the same bytes: equal figures, so the gate holds with equality
    expect(q8.gate!.outcome.gate.name).toBe('q8_0');
    expect(q8.gate!.anchor.kld.mean.value).toBe(q8.statistics.kld.mean.value);
    expect(q8.gate!.outcome.isPassed).toBe(true);
    // README (eval section): Q8_0 7.6e-4 mean KLD, 97.9% same top, 9.97 bits per weight on this text
    expect(q8.statistics.kld.mean.value).toBeGreaterThan(6e-4);
    expect(q8.statistics.kld.mean.value).toBeLessThan(9e-4);
    expect(q8.statistics.sameTop.value).toBeGreaterThan(0.97);
    expect(q8.bitsPerWeight).toBeCloseTo(9.97, 2);
    expect(nvfp4.keptTensors).toEqual([0, 1, 2, 3, 4].map((i) => `blk.${i}.ffn_down.weight`));
    expect(f32.matrixTypes).toEqual([{ type: 'F32', count: 37 }]); // 7 per layer, 5 layers, the embedding and the output head
    expect(nvfp4.matrixTypes).toEqual([{ type: 'NVFP4', count: 31 }, { type: 'F32', count: 5 }, { type: 'Q8_0', count: 1 }]); // the output head: Q8_0
    expect(nvfp4.gate!.outcome.gate.anchor).toBe('Q4_0');
    expect(nvfp4.statistics.kld.mean.value).toBeGreaterThan(q8.statistics.kld.mean.value);
  }, 120_000);

  it('the table shows the figures, the gate with its bound, and a missed gate as MISSED', () => {
    const size = { tensorBytes: 1_234_000_000, numElements: 1e9, bitsPerWeight: 9.872 };
    const table = formatFormatsTable(
      rows.map((accuracy, i) => ({ accuracy, size, speed: i === 1 ? { decodeTokensPerSecond: 4.5, prefillTokensPerSecond: 20.25 } : undefined })),
      'llama-3.2-1b',
      'stories260K',
    );
    const lines = table.split('\n');
    const q8 = rows[1]!;
    expect(lines[0]).toContain('| format | bits/weight (llama-3.2-1b) | size (llama-3.2-1b) | bits/weight (stories260K) | PPL ratio | mean KLD | same top | gate | decode tok/s | prefill tok/s |');
    expect(lines[2]).toMatch(/^\| F32 \| 9\.87 \| 1234 MB \| 32\.00 \| 1\.0000 ± 0\.0000 \| .* \| 100\.00 ± 0\.00% \| — \(no default gate\) \| — \| — \|$/);
    expect(lines[3]).toContain(`| Q8_0 | 9.87 | 1234 MB | 9.97 | `);
    expect(lines[3]).toContain(`| ${q8.statistics.kld.mean.value.toPrecision(3)} ± `);
    expect(lines[3]).toContain(`| pass: q8_0, mean KLD ≤ ${q8.statistics.kld.mean.value.toPrecision(3)}, same top ≥ ${(100 * q8.statistics.sameTop.value).toFixed(2)}% (Q8_0's) | 4.50 | 20.25 |`);
    expect(lines[4]).toMatch(/^\| NVFP4 \(5 tensors kept F32\) \|/);
    expect(table).toContain('Kept F32 on stories260K (no type the format can write fits their rows): NVFP4: blk.N.ffn_down.weight (5).');
    expect(table).toContain('Matrix types of the stories260K files where they are mixed: Q8_0: Q8_0 ×32, F16 ×5; NVFP4: NVFP4 ×31, F32 ×5, Q8_0 ×1.');
    // a model with twice Q8_0's divergence against the calibrated-4bit gate
    const worse = { ...q8.statistics, kld: { ...q8.statistics.kld, mean: { value: 2 * q8.statistics.kld.mean.value, uncertainty: 0 } } };
    expect(gateCell(checkGate(findGate('calibrated-4bit')!, worse, q8.statistics))).toBe(`**MISSED**: calibrated-4bit, mean KLD ≤ ${q8.statistics.kld.mean.value.toPrecision(3)} ✗ (Q4_K's)`);
  });

  it("the synthetic shape's file has the types `peregrine quantize` plans (Q4_0: a Q6_K output), its size theirs, and it runs", async () => {
    const previous = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cacheDir;
    try {
      const plan = plannedTensorTypes('tiny', 'Q4_0');
      expect(plan.find((p) => p.name === 'output.weight')!.type).toBe(GgmlType.Q6_K);
      expect(plan.find((p) => p.name === 'token_embd.weight')!.type).toBe(GgmlType.Q4_0);
      expect(plan.find((p) => p.name === 'blk.0.attn_q.weight')!.type).toBe(GgmlType.Q4_0);
      const path = resolveFormatModel('tiny', 'Q4_0', () => {});
      const file = readGguf(path);
      expect(file.tensors.map((t) => [t.name, t.type]).sort()).toEqual(plan.map((p) => [p.name, p.type]).sort());
      const size = plannedSize('tiny', 'Q4_0');
      expect(size.tensorBytes).toBe(file.tensors.reduce((sum, t) => sum + ggmlByteSize(t.type, t.numElements), 0));
      expect(statSync(path).size).toBeGreaterThan(size.tensorBytes);
      const prompt = Array.from({ length: 32 }, (_, i) => 300 + i);
      const speed = await measurePeregrineSpeed(path, prompt, { threads: 1, numDecode: 4, contextSize: 64 });
      expect(speed.decodeTokensPerSecond).toBeGreaterThan(0);
      expect(speed.prefillTokensPerSecond).toBeGreaterThan(0);
    } finally {
      if (previous === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = previous;
    }
  });
});
