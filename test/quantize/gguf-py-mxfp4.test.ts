import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGguf } from '../../src/formats/gguf/index.js';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { tempDir } from '../parity/helpers.js';
import { itFollowsLlamaCpp } from './follows-llama-cpp.js';
import { GGUF_PY_ENV, runPython } from './python-reference.js';

/**
 * MXFP4 files written by llama.cpp's own tools (the `gguf` package 0.19.0: gguf.quants' MXFP4
 * quantizer and GGUFWriter, test/quantize/write_mxfp4_gguf.py) load in Peregrine, which follows
 * llama.cpp's greedy tokens on them. Token embeddings and output are MXFP4 here too.
 */
const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const skip = GGUF_PY_ENV === undefined;
if (skip) console.warn('[quantize] python3 with the gguf package (0.19.0) unavailable: gguf-py MXFP4 files not tested');

const dir = tempDir('gguf-py-mxfp4');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip).each([
  { model: 'stories260K', input: () => STORIES },
  { model: 'synthetic tiny', input: () => join(dir, 'tiny-f32.gguf') },
])('$model in MXFP4 written by gguf-py', ({ model, input }) => {
  const path = join(dir, `${model.replace(/\W+/g, '-')}-MXFP4.gguf`);
  beforeAll(async () => {
    if (model === 'synthetic tiny') writeSyntheticModel(input(), { shape: 'tiny', weightType: 'F32', seed: 7, contextLength: 512 });
    await runPython([join(import.meta.dirname, 'write_mxfp4_gguf.py'), input(), path], GGUF_PY_ENV);
  }, 120_000);

  it('holds MXFP4 matrices, the token embeddings included', () => {
    const tensors = readGguf(path).tensors;
    expect(tensors.find((t) => t.name === 'token_embd.weight')?.type).toBe(GgmlType.MXFP4);
    expect(tensors.filter((t) => t.type === GgmlType.MXFP4).length).toBeGreaterThan(10);
  });

  itFollowsLlamaCpp(() => path);
});
