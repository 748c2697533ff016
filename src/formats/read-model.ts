import { statSync } from 'node:fs';
import { readGguf, type GgufFile } from './gguf/index.js';
import { readHfDirectory, type HfDirectoryOptions } from './hf/hf-directory.js';

export type ReadModelOptions = HfDirectoryOptions;

/**
 * A model's header, whatever its format: a GGUF file, or a Hugging Face directory presented as the
 * GGUF llama.cpp's converter would write from it (see readHfDirectory). Tensor data is not read.
 */
export function readModel(path: string, options: ReadModelOptions = {}): GgufFile {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // readGguf reports a missing or unreadable path
  }
  return isDirectory ? readHfDirectory(path, options) : readGguf(path);
}
