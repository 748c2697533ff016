import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { GgmlType } from '../../src/formats/ggml-type.js';
import { readGguf, readTensorData, writeGguf } from '../../src/formats/gguf/index.js';
import { Rng } from '../../src/util/rng.js';

/** A text stories260K wrote itself (`peregrine generate --temperature 0.8 --seed 7 --max-tokens 1600 --ignore-eos`): 1600 tokens, 3 windows of 512. */
export const SAMPLED_TEXT = join(import.meta.dirname, 'stories260k-sampled.txt');

/**
 * `inputPath` (an F32 GGUF) rewritten with `output.weight` scaled per element by 1 + amplitude × u,
 * u uniform in [-1, 1] from a seeded stream: a model with the reference's vocabulary and a
 * divergence that grows with the amplitude.
 */
export function writeNoisyCopy(inputPath: string, outputPath: string, amplitude: number, seed = 1): string {
  const file = readGguf(inputPath);
  const data = readTensorData(file, file.tensors);
  const rng = new Rng(seed);
  writeGguf(outputPath, {
    metadata: Object.fromEntries(file.metadata),
    tensors: file.tensors.map((t) => {
      const bytes = data.get(t.name)!;
      if (t.name !== 'output.weight') return { name: t.name, shape: t.shape, type: t.type, data: bytes };
      if (t.type !== GgmlType.F32) throw new Error('writeNoisyCopy: output.weight must be F32');
      const w = new Float32Array(bytes.buffer, bytes.byteOffset, t.numElements).slice();
      for (let i = 0; i < w.length; i++) w[i] = w[i]! * (1 + amplitude * (2 * rng.next() - 1));
      return { name: t.name, shape: t.shape, type: t.type, data: new Uint8Array(w.buffer) };
    }),
  });
  return outputPath;
}

/** An anchor "quantizer" for tests: copies a prepared file, recording what it was asked. */
export function fakeQuantizer(anchorSource: string, calls: { input: string; output: string; format: string }[]) {
  return async (input: string, output: string, format: string): Promise<void> => {
    calls.push({ input, output, format });
    copyFileSync(anchorSource, output);
  };
}
