import { ModelLoadError } from '../../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../../errors/untrusted-text.js';
import type { GgmlType } from '../ggml-type.js';
import { GgufValueType, type GgufMetadata, type GgufScalar, type GgufScalarType, type GgufValue } from './gguf-value.js';

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: shape[0] is the contiguous (innermost) dimension */
  readonly shape: readonly number[];
  readonly type: GgmlType;
  /** absolute byte offset of the tensor data in the file */
  readonly fileOffset: number;
  readonly byteSize: number;
  readonly numElements: number;
}

/**
 * Where a model's tensor bytes come from when they are not at `fileOffset` in the GGUF file itself:
 * a Hugging Face directory (src/formats/hf) presents itself as the GGUF llama.cpp's converter would
 * write and reads each tensor from its safetensors shard, converted on the way (Q/K row order,
 * Gemma's norm offset).
 */
export interface TensorSource {
  /** the tensor's bytes, in `info.type` and ggml layout, in a new buffer the caller owns */
  read(info: GgufTensorInfo): Uint8Array;
}

/** A parsed GGUF header: metadata and tensor infos. Tensor bytes stay in the file until read. */
export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** absolute offset of the tensor data section */
  readonly dataOffset: number;
  readonly fileSize: number;
  /** absent: the tensors are in the file at `path`; present: read through it (a Hugging Face directory) */
  readonly tensorSource?: TensorSource;
}

function describe(v: GgufValue | undefined): string {
  if (!v) return 'missing';
  return v.type === GgufValueType.ARRAY ? 'array' : GgufValueType[v.type];
}

/** Typed metadata accessors that name the key in their errors. */
export class MetadataReader {
  constructor(
    readonly metadata: GgufMetadata,
    private readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  private fail(key: string, want: string): never {
    const v = this.metadata.get(key);
    throw new ModelLoadError(
      'MISSING_METADATA',
      `${untrustedPath(this.source)}: metadata key '${untrustedText(key)}' must be ${want} (found ${describe(v)})`,
    );
  }

  string(key: string): string;
  string(key: string, fallback: string): string;
  string(key: string, fallback?: string): string {
    const v = this.metadata.get(key);
    if (v?.type === GgufValueType.STRING) return v.value as string;
    if (v === undefined && fallback !== undefined) return fallback;
    return this.fail(key, 'a string');
  }

  number(key: string): number;
  number(key: string, fallback: number): number;
  number(key: string, fallback?: number): number {
    const v = this.metadata.get(key);
    if (v && v.type !== GgufValueType.ARRAY && v.type !== GgufValueType.STRING && v.type !== GgufValueType.BOOL) {
      return Number(v.value);
    }
    if (v === undefined && fallback !== undefined) return fallback;
    return this.fail(key, 'a number');
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.metadata.get(key);
    if (v?.type === GgufValueType.BOOL) return v.value as boolean;
    if (v === undefined) return fallback;
    return this.fail(key, 'a bool');
  }

  array(key: string): readonly GgufScalar[];
  array(key: string, fallback: readonly GgufScalar[]): readonly GgufScalar[];
  array(key: string, fallback?: readonly GgufScalar[]): readonly GgufScalar[] {
    const v = this.metadata.get(key);
    if (v?.type === GgufValueType.ARRAY) return v.value;
    if (v === undefined && fallback !== undefined) return fallback;
    return this.fail(key, 'an array');
  }

  stringArray(key: string): readonly string[] {
    const v = this.metadata.get(key);
    if (v?.type === GgufValueType.ARRAY && v.itemType === GgufValueType.STRING) return v.value as string[];
    return this.fail(key, 'an array of strings');
  }

  /** An array whose items are exactly `itemType` (e.g. FLOAT32 scores, INT32 token types), or undefined when absent. */
  typedArray(key: string, itemType: GgufScalarType, want: string): number[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === GgufValueType.ARRAY && v.itemType === itemType) return v.value.map(Number);
    return this.fail(key, want);
  }

  numberArray(key: string): number[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === GgufValueType.ARRAY && v.itemType !== GgufValueType.STRING) return v.value.map(Number);
    return this.fail(key, 'an array of numbers');
  }
}
