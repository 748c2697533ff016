import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { quantize } from '../../src/quant/index.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../parity/helpers.js';
import { GGUF_PY_ENV, runPython } from './python-reference.js';

/**
 * Our quantizers against the numpy ones of llama.cpp's `gguf` package 0.19.0 (gguf.quants), for
 * the types it has: Q8_0, Q4_0, Q5_0, MXFP4 (it has no k-quant quantizer: Q4_K/Q6_K are checked
 * against ggml's own quantize_row_*_ref in src/quant/k-quants.test.ts and, whole files, against
 * llama_model_quantize in llama-quantize-parity.test.ts). Byte for byte, on rows chosen to hit the
 * rounding edges: halves, ties of amax between a positive and a negative value, zero blocks,
 * subnormal and huge scales, sums that f32 rounds up to an integer (the old Q4_0 code missed those).
 */
const NUM_COLS = 256;
const skip = GGUF_PY_ENV === undefined;
if (skip) console.warn('[quantize] python3 with the gguf package (0.19.0) unavailable: gguf.quants comparisons skipped');

function awkwardRows(): Float32Array {
  const rng = new Rng(1234);
  const numRows = 50;
  const x = new Float32Array(numRows * NUM_COLS);
  // two rows where C's float sum x/d + 8.5f (Q4_0) or + 16.5f (Q5_0) rounds up to the next integer
  // before truncation, and the exact sum does not: d = 1 (max −8, −16), x/d just below 6.5 (14.5)
  for (let j = 0; j < NUM_COLS; j++) {
    x[48 * NUM_COLS + j] = j % 32 === 0 ? -8 : 6.5 - 2 ** -21;
    x[49 * NUM_COLS + j] = j % 32 === 0 ? -16 : 14.5 - 2 ** -20;
  }
  for (let r = 0; r < 48; r++) {
    const scale = Math.exp(rng.gaussian() * 3);
    for (let j = 0; j < NUM_COLS; j++) {
      const g = rng.gaussian();
      const i = r * NUM_COLS + j;
      switch (r % 12) {
        case 0: x[i] = g * scale; break;
        case 1: x[i] = (Math.round(g * 16) / 2) * scale; break; // many halves: ties of the rounding
        case 2: x[i] = j % 32 === 5 ? 4 : j % 32 === 9 ? -4 : g; break; // amax tie, positive first
        case 3: x[i] = j % 32 === 5 ? -4 : j % 32 === 9 ? 4 : g; break; // amax tie, negative first
        case 4: x[i] = j < 64 ? 0 : g * scale; break; // zero blocks
        case 5: x[i] = g * 1e-30; break; // scales below f16's range
        case 6: x[i] = g * 1e4; break; // large
        case 7: x[i] = (j % 17) - 8; break; // integers
        case 8: x[i] = rng.next() * scale; break; // one-signed
        case 9: x[i] = g * g * g; break; // heavy tails
        case 10: x[i] = ((j % 32) - 15.5) / 15.5; break; // evenly spread
        case 11: x[i] = Math.fround(g * 1e-6); break;
      }
    }
  }
  return x;
}

const TYPES = ['Q8_0', 'Q4_0', 'Q5_0', 'MXFP4'] as const;
const dir = tempDir('gguf-quants');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip)('quantizers equal gguf.quants (llama.cpp gguf-py 0.19.0) byte for byte', () => {
  const x = awkwardRows();
  const prefix = join(dir, 'rows');
  beforeAll(async () => {
    writeFileSync(`${prefix}.f32`, new Uint8Array(x.buffer));
    await runPython([join(import.meta.dirname, 'gguf_quants.py'), `${prefix}.f32`, String(NUM_COLS), prefix, ...TYPES], GGUF_PY_ENV);
  }, 120_000);
  const theirs = (name: string): Buffer => readFileSync(`${prefix}.${name}.bin`);

  it.each(TYPES)('%s', (name) => {
    const ours = Buffer.from(quantize(GgmlType[name], x));
    const expected = theirs(name);
    expect(ours.length).toBe(expected.length);
    const firstDiff = ours.findIndex((b, i) => b !== expected[i]);
    expect(firstDiff, `first differing byte ${firstDiff}`).toBe(-1);
  });
});
