import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { AnchorFormat } from './accuracy-gates.js';

/** Writes `inputPath` quantized to `format` at `outputPath` (Peregrine's quantizer, llama.cpp's bits). */
export type AnchorQuantizer = (inputPath: string, outputPath: string, format: AnchorFormat) => Promise<void>;

/**
 * Quantizes the reference to the gate's anchor format in a temporary folder of its own, hands the
 * file to `use`, and removes the folder afterwards, whatever `use` does.
 */
export async function withAnchorFile<T>(referencePath: string, format: AnchorFormat, quantize: AnchorQuantizer, use: (anchorPath: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-eval-anchor-'));
  try {
    const anchorPath = join(dir, `${basename(referencePath).replace(/\.gguf$/i, '')}-${format}.gguf`);
    await quantize(referencePath, anchorPath, format);
    return await use(anchorPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
