import { ggmlTypeName } from '../formats/ggml-type.js';
import { GgufValueType, type GgufFile } from '../formats/gguf/index.js';

export interface ModelInfo {
  readonly path: string;
  readonly architecture: string;
  readonly name: string | undefined;
  readonly ggufVersion: number;
  readonly fileBytes: number;
  readonly numParameters: number;
  readonly numTensors: number;
  /** ggml type name → number of tensors of that type */
  readonly tensorTypes: Readonly<Record<string, number>>;
  /** `${arch}.*` metadata without the prefix: context_length, embedding_length, block_count, ... */
  readonly hyperparameters: Readonly<Record<string, number | string | boolean>>;
  readonly tokenizer: { readonly model: string | undefined; readonly pre: string | undefined; readonly vocabSize: number };
}

/** Summarises a GGUF header; reads no tensor data. */
export function describeModel(file: GgufFile): ModelInfo {
  const str = (key: string): string | undefined => {
    const v = file.metadata.get(key);
    return v?.type === GgufValueType.STRING ? (v.value as string) : undefined;
  };
  const architecture = str('general.architecture') ?? 'unknown';
  const hyperparameters: Record<string, number | string | boolean> = {};
  for (const [key, v] of file.metadata) {
    if (!key.startsWith(`${architecture}.`) || v.type === GgufValueType.ARRAY) continue;
    hyperparameters[key.slice(architecture.length + 1)] = typeof v.value === 'bigint' ? Number(v.value) : v.value;
  }
  const tensorTypes: Record<string, number> = {};
  let numParameters = 0;
  for (const t of file.tensors) {
    const name = ggmlTypeName(t.type);
    tensorTypes[name] = (tensorTypes[name] ?? 0) + 1;
    numParameters += t.numElements;
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  return {
    path: file.path,
    architecture,
    name: str('general.name'),
    ggufVersion: file.version,
    fileBytes: file.fileSize,
    numParameters,
    numTensors: file.tensors.length,
    tensorTypes,
    hyperparameters,
    tokenizer: {
      model: str('tokenizer.ggml.model'),
      pre: str('tokenizer.ggml.pre'),
      vocabSize: tokens?.type === GgufValueType.ARRAY ? tokens.value.length : 0,
    },
  };
}
