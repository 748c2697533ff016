import { ModelLoadError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import { ggmlTypeName } from '../formats/ggml-type.js';
import { readTensorData, readTensorsInto, type GgufFile, type GgufTensorInfo } from '../formats/gguf/index.js';
import type { WeightHandle, WeightShape, WeightTensor } from '../kernels/kernel-backend.js';
import { codecFor } from '../quant/index.js';
import type { Workspace } from './workspace.js';

/** the largest read buffer `upload` keeps for the next read (a 1B's token embedding, 148 MB, is left to the garbage collector: kept, it would be resident for the rest of the load) */
const MAX_SPARE_BYTES = 64 * 2 ** 20;

/**
 * Looks up, validates and reads a model's tensors. Every error names the tensor and what was
 * expected, so a bad or unsupported file is diagnosed at load time, not mid-generation. A matrix
 * is the caller's, in a buffer of its own, until the caller gives it back through `upload`; a
 * buffer given back (the backend copied it) takes the next matrix read.
 */
export class WeightLoader {
  private readonly infos: Map<string, GgufTensorInfo>;
  /** tensors read so far, for checkAllUsed */
  private readonly used = new Set<string>();
  /** the buffers this loader read matrices into (only these are ever reused) */
  private readonly readBuffers = new WeakSet<ArrayBuffer>();
  /** a read buffer whose bytes a backend has copied (`upload`): the next matrix is read into it if it fits */
  private spare: ArrayBuffer | undefined;

  constructor(private readonly file: GgufFile) {
    this.infos = new Map(file.tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.infos.has(name);
  }

  /** `path: tensor 'name'` for a message, both escaped and bounded */
  private where(name: string): string {
    return `${untrustedPath(this.file.path)}: tensor '${untrustedText(name)}'`;
  }

  private info(name: string, shape: readonly number[]): GgufTensorInfo {
    const info = this.infos.get(name);
    if (!info) throw new ModelLoadError('MISSING_TENSOR', `${this.where(name)} is missing`);
    this.used.add(name);
    const actual = info.shape.slice();
    while (actual.length > shape.length && actual[actual.length - 1] === 1) actual.pop();
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(
        'BAD_TENSOR_SHAPE',
        `${this.where(name)} has shape [${info.shape}], expected [${shape}]`,
      );
    }
    if (!codecFor(info.type)) {
      throw new ModelLoadError(
        'UNSUPPORTED_TENSOR_TYPE',
        `${this.where(name)} has type ${ggmlTypeName(info.type)}, which Peregrine does not support yet`,
      );
    }
    return info;
  }

  private bytes(info: GgufTensorInfo): Uint8Array {
    return readTensorData(this.file, [info]).get(info.name)!;
  }

  /** `byteLength` bytes to read a matrix into: the spare buffer where it fits, else a new one; the caller's until given back by `upload` */
  private readBuffer(byteLength: number): Uint8Array {
    const spare = this.spare;
    this.spare = undefined;
    if (spare && spare.byteLength >= byteLength) return new Uint8Array(spare, 0, byteLength);
    const buffer = new ArrayBuffer(byteLength);
    this.readBuffers.add(buffer);
    return new Uint8Array(buffer);
  }

  /** A 2-D weight [numRows, numCols] (ggml shape [numCols, numRows]). */
  matrix(name: string, numRows: number, numCols: number): WeightTensor {
    const info = this.info(name, [numCols, numRows]);
    if (this.file.tensorSource) return { name, type: info.type, numRows, numCols, data: this.file.tensorSource.read(info) };
    const data = this.readBuffer(info.byteSize);
    readTensorsInto(this.file, [info], data);
    return { name, type: info.type, numRows, numCols, data };
  }

  /**
   * `t` uploaded with `ws` for matmul, the caller done with `t`: where the backend copied the bytes
   * (packed them, moved them to huge pages) and this loader read them, their buffer takes the next
   * matrix read, instead of one buffer per matrix left to the garbage collector (on 1B Q4_0 that
   * was 50 MB of the load's peak RSS, and a page fault every 4 KiB read).
   */
  upload(ws: Workspace, t: WeightTensor): WeightHandle {
    const handle = ws.uploadWeight(t);
    const buffer = t.data.buffer;
    if (handle !== t && buffer instanceof ArrayBuffer && this.readBuffers.has(buffer) && buffer.byteLength <= MAX_SPARE_BYTES && buffer.byteLength > (this.spare?.byteLength ?? 0)) {
      this.spare = buffer;
    }
    return handle;
  }

  /**
   * Matrices that multiply the same activations ([numRows, numCols] each, named by `parts`) as one
   * matrix `stackedName`, their rows one under the other, when they have one type; else undefined
   * (each is then loaded on its own). The parts are read straight into the stacked matrix's buffer:
   * one copy from the file, none to stack them.
   */
  stackedMatrix(stackedName: string, parts: readonly (readonly [name: string, numRows: number])[], numCols: number): WeightTensor | undefined {
    const infos = parts.map(([name, numRows]) => this.info(name, [numCols, numRows]));
    if (infos.some((info) => info.type !== infos[0]!.type)) return undefined;
    const data = this.readBuffer(infos.reduce((sum, info) => sum + info.byteSize, 0));
    if (this.file.tensorSource) {
      let offset = 0;
      for (const info of infos) {
        data.set(this.file.tensorSource.read(info), offset);
        offset += info.byteSize;
      }
    } else {
      readTensorsInto(this.file, infos, data);
    }
    const numRows = parts.reduce((sum, [, rows]) => sum + rows, 0);
    return { name: stackedName, type: infos[0]!.type, numRows, numCols, data };
  }

  /** A 1-D tensor (norm weights, biases, rope factors) decoded to f32. */
  vector(name: string, length: number): Float32Array {
    const info = this.info(name, [length]);
    const out = new Float32Array(length);
    codecFor(info.type)!.dequantize(this.bytes(info), 0, length, out);
    return out;
  }

  optionalVector(name: string, length: number): Float32Array | undefined {
    return this.has(name) ? this.vector(name, length) : undefined;
  }

  /**
   * The per-tensor output scale of matrix `weightName` (`blk.N.attn_q.weight` → `blk.N.attn_q.scale`,
   * shape [1]), or undefined when the file has none or it is 1 (nothing to multiply): NVIDIA's
   * second NVFP4 scale, as llama.cpp's converter writes it and llama.cpp applies it (the matmul's
   * output times the scale, before any bias). Any weight type may carry one, as in llama.cpp.
   */
  outputScale(weightName: string): number | undefined {
    if (!weightName.endsWith('.weight')) return undefined;
    const name = `${weightName.slice(0, -'.weight'.length)}.scale`;
    if (!this.has(name)) return undefined;
    const s = this.vector(name, 1)[0]!;
    if (!Number.isFinite(s)) throw new ModelLoadError('GGUF_CORRUPT', `${this.where(name)} is ${s}, not a finite scale`);
    return s === 1 ? undefined : s;
  }

  /**
   * Every tensor in the file was read: one the architecture does not use (a renamed tensor, a bias
   * this architecture ignores) would otherwise be dropped without a word. llama.cpp refuses such
   * files too ("wrong number of tensors").
   */
  checkAllUsed(architecture: string): void {
    const unused = [...this.infos.keys()].filter((name) => !this.used.has(name));
    if (unused.length === 0) return;
    const more = unused.length > 1 ? ` (and ${unused.length - 1} more)` : '';
    throw new ModelLoadError('GGUF_CORRUPT', `${this.where(unused[0]!)} is not used by the ${untrustedText(architecture)} architecture${more}`);
  }
}

/**
 * The matrices a model of `file` uploads for matmul, at least (KernelBackend.reserveWeights): every
 * tensor of two or more dimensions but the token embeddings (an untied model keeps its table as
 * read, and so does a tied Gemma, whose output head reuses it).
 */
export function matmulWeightShapes(file: GgufFile): WeightShape[] {
  return file.tensors
    .filter((t) => t.shape.length >= 2 && t.numElements > t.shape[0]! && !t.name.includes('token_embd'))
    .map((t) => ({ type: t.type, numRows: t.numElements / t.shape[0]!, numCols: t.shape[0]! }));
}
