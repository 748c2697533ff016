import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../kernels/reference/reference-backend.js';
import { createModel } from '../../models/registry.js';
import { E4M3_TABLE, f32ToE4m3 } from '../../quant/fp8.js';
import { evaluateLogits } from '../../runner/evaluate-logits.js';
import { writeHfTwin } from '../../testing/hf-twin.js';
import { maxRelativeError } from '../../testing/relative-error.js';
import { writeSafetensors, type SafetensorsTensorSpec } from '../../testing/safetensors-writer.js';
import { writeSyntheticModel } from '../../testing/synthetic-model.js';
import { GgmlType } from '../ggml-type.js';
import { readModel } from '../read-model.js';
import { readSafetensors, readSafetensorsData } from '../safetensors/safetensors-reader.js';

const root = mkdtempSync(join(tmpdir(), 'peregrine-fp8-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const gguf = join(root, 'tiny.gguf');
const { shape } = writeSyntheticModel(gguf, { shape: 'tiny-64', weightType: 'F32', seed: 9 });
const f32Dir = join(root, 'f32');
writeHfTwin(gguf, shape, f32Dir);
const source = readSafetensors(join(f32Dir, 'model.safetensors'));

/** per-row scales, or one for the tensor, of a [rows, cols] weight */
type ScaleRule = (rowAmax: readonly number[]) => { scales: number[]; isPerRow: boolean };

/**
 * The twin with every projection stored as a pre-quantized FP8 checkpoint stores it (F8_E4M3 bytes
 * of w / scale, weight_scale, an input_scale), and an F32 twin of the very values that FP8
 * checkpoint means (e4m3(q) · scale): the model the FP8 one must reproduce.
 */
function writeFp8Twin(name: string, rule: ScaleRule): { fp8Dir: string; dequantizedDir: string } {
  const fp8: SafetensorsTensorSpec[] = [];
  const dequantized: SafetensorsTensorSpec[] = [];
  for (const info of source.tensors.values()) {
    const bytes = readSafetensorsData(source, info);
    if (!info.name.endsWith('_proj.weight')) {
      fp8.push({ name: info.name, dtype: 'F32', shape: info.shape, data: bytes });
      dequantized.push({ name: info.name, dtype: 'F32', shape: info.shape, data: bytes });
      continue;
    }
    const [rows, cols] = info.shape as [number, number];
    const w = new Float32Array(bytes.buffer, bytes.byteOffset, rows * cols);
    const rowAmax = Array.from({ length: rows }, (_, r) => Math.max(...w.subarray(r * cols, (r + 1) * cols).map(Math.abs)));
    const { scales, isPerRow } = rule(rowAmax);
    const q = new Uint8Array(rows * cols);
    const values = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const s = Math.fround(scales[isPerRow ? r : 0]!);
      for (let c = 0; c < cols; c++) {
        q[r * cols + c] = f32ToE4m3(w[r * cols + c]! / s);
        values[r * cols + c] = E4M3_TABLE[q[r * cols + c]!]! * s;
      }
    }
    const scaleData = new Uint8Array(Float32Array.from(scales).buffer);
    fp8.push(
      { name: info.name, dtype: 'F8_E4M3', shape: info.shape, data: q },
      { name: `${info.name}_scale`, dtype: 'F32', shape: isPerRow ? [rows, 1] : [], data: scaleData },
      { name: info.name.replace(/weight$/, 'input_scale'), dtype: 'F32', shape: [], data: new Uint8Array(Float32Array.of(0.02).buffer) },
    );
    dequantized.push({ name: info.name, dtype: 'F32', shape: info.shape, data: new Uint8Array(values.buffer) });
  }
  const dirs = { fp8Dir: join(root, `${name}-fp8`), dequantizedDir: join(root, `${name}-dequantized`) };
  for (const [dir, tensors] of [[dirs.fp8Dir, fp8], [dirs.dequantizedDir, dequantized]] as const) {
    mkdirSync(dir);
    copyFileSync(join(f32Dir, 'config.json'), join(dir, 'config.json'));
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
  }
  return dirs;
}

const ids = [1, 7, 30, 200, 5, 90];
const logitsOf = (dir: string): Float32Array[] => evaluateLogits(createModel(readModel(dir), new ReferenceBackend()), ids, 'f32');
const f32Logits = logitsOf(f32Dir);

describe('FP8 Hugging Face checkpoints', () => {
  it('per-row scales amax / 448 (Model Optimizer, compressed-tensors channel-wise): BF16 weights, logits within 2% of the values the checkpoint means (bf16 rounding) and 15% of the F32 model (the FP8 rounding itself)', () => {
    const { fp8Dir, dequantizedDir } = writeFp8Twin('per-row', (rowAmax) => ({ scales: rowAmax.map((a) => a / 448), isPerRow: true }));
    const file = readModel(fp8Dir);
    expect(file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe(GgmlType.BF16);
    expect(file.tensors.some((t) => t.name.includes('scale'))).toBe(false);
    const logits = logitsOf(fp8Dir);
    const meant = logitsOf(dequantizedDir);
    for (let i = 0; i < ids.length; i++) {
      expect(maxRelativeError(logits[i]!, meant[i]!)).toBeLessThan(0.02);
      expect(maxRelativeError(logits[i]!, f32Logits[i]!)).toBeLessThan(0.15);
    }
  });

  it("a per-tensor power-of-two scale maps exactly to Peregrine's FP8_E4M3 blocks: the logits of the values the checkpoint means, within 15% of the F32 model's", () => {
    const { fp8Dir, dequantizedDir } = writeFp8Twin('pow2', (rowAmax) => ({ scales: [2 ** Math.ceil(Math.log2(Math.max(...rowAmax) / 448))], isPerRow: false }));
    const file = readModel(fp8Dir);
    expect(file.tensors.find((t) => t.name === 'blk.0.ffn_down.weight')?.type).toBe(GgmlType.FP8_E4M3);
    const logits = logitsOf(fp8Dir);
    const meant = logitsOf(dequantizedDir);
    for (let i = 0; i < ids.length; i++) {
      expect(maxRelativeError(logits[i]!, meant[i]!)).toBeLessThan(1e-5);
      expect(maxRelativeError(logits[i]!, f32Logits[i]!)).toBeLessThan(0.15);
    }
  });

  it('refuses an FP8 weight without a weight_scale, and block-wise scales, by name', () => {
    const q = new Uint8Array(64 * 64);
    const tensors = (scale?: SafetensorsTensorSpec): SafetensorsTensorSpec[] => [
      ...[...source.tensors.values()].filter((t) => t.name !== 'model.layers.0.self_attn.o_proj.weight').map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: readSafetensorsData(source, t) })),
      { name: 'model.layers.0.self_attn.o_proj.weight', dtype: 'F8_E4M3', shape: [64, 64], data: q },
      ...(scale ? [scale] : []),
    ];
    const dir = (name: string, scale?: SafetensorsTensorSpec): string => {
      const d = join(root, name);
      mkdirSync(d);
      copyFileSync(join(f32Dir, 'config.json'), join(d, 'config.json'));
      writeSafetensors(join(d, 'model.safetensors'), tensors(scale));
      return d;
    };
    expect(() => readModel(dir('no-scale'))).toThrow(/o_proj\.weight' has dtype F8_E4M3 but no model\.layers\.0\.self_attn\.o_proj\.weight_scale/);
    const blockwise = { name: 'model.layers.0.self_attn.o_proj.weight_scale', dtype: 'F32' as const, shape: [2, 2], data: new Uint8Array(16) };
    expect(() => readModel(dir('block-scales', blockwise))).toThrow(/weight_scale has 4 values; only one per tensor or one per row \(64\)/);
  });
});
