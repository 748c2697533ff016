import { ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend, WeightTensor } from '../kernels/kernel-backend.js';
import type { KvStorage } from '../kernels/kv-storage.js';
import type { ForwardBatch } from './forward-batch.js';
import { LlamaModel, parseLlamaConfig, type LlamaConfig } from './llama.js';

/** What the engine needs from any decoder-only architecture. */
export interface CausalLM {
  readonly config: LlamaConfig;
  readonly weights: readonly WeightTensor[];
  readonly backendName: string;
  /** [batch.logitRows.length, vocabSize] logits, in a buffer the model reuses: valid until its next forward */
  forward(batch: ForwardBatch, kv: KvStorage): Float32Array;
  /** the argmax of each of the first numRows rows of forward's logits, in a buffer reused likewise */
  argmaxRows(logits: Float32Array, numRows: number): Int32Array;
}

type ModelFactory = (file: GgufFile, backend: KernelBackend) => CausalLM;

/** Architectures by GGUF `general.architecture`; adding one means adding its file and a line here. */
const ARCHITECTURES: Record<string, ModelFactory> = {
  llama: (file, backend) => new LlamaModel(parseLlamaConfig(file, 'llama'), file, backend),
};

export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.keys(ARCHITECTURES);

export function createModel(file: GgufFile, backend: KernelBackend): CausalLM {
  const arch = new MetadataReader(file.metadata, file.path).string('general.architecture');
  const factory = ARCHITECTURES[arch];
  if (!factory) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${file.path}: architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  return factory(file, backend);
}
