import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GgmlType, gguf, loadModel, ModelLoadError, readGguf, writeGguf } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { readTensorData, type GgufTensorSpec, type GgufValue } from '../../src/formats/gguf/index.js';
import { ggmlByteSize } from '../../src/formats/ggml-type.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const source = readGguf(DEFAULT_MODEL_PATH);
const sourceData = readTensorData(source, source.tensors);

/** Writes a variant of stories260K with edited metadata and tensors. */
function variant(
  name: string,
  edit: { metadata?: Record<string, GgufValue>; tensors?: (t: GgufTensorSpec[]) => GgufTensorSpec[] },
): string {
  const path = join(dir, name);
  const metadata = new Map(source.metadata);
  for (const [k, v] of Object.entries(edit.metadata ?? {})) metadata.set(k, v);
  const tensors: GgufTensorSpec[] = source.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: sourceData.get(t.name)! }));
  writeGguf(path, { metadata, tensors: edit.tensors ? edit.tensors(tensors) : tensors });
  return path;
}

async function expectLoadError(path: string, code: string, message: RegExp): Promise<void> {
  const err = await loadModel(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelLoadError);
  expect((err as ModelLoadError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('loadModel: bad files give typed errors that name the problem', () => {
  it('a faithful copy loads (the control case)', async () => {
    const model = await loadModel(variant('copy.gguf', {}));
    expect(model.info.architecture).toBe('llama');
  });
  it('missing file', () => expectLoadError(join(dir, 'absent.gguf'), 'FILE_NOT_FOUND', /absent\.gguf/));
  it('not a GGUF file', () => {
    const p = join(dir, 'text.gguf');
    writeFileSync(p, 'hello, I am not a model\n');
    return expectLoadError(p, 'GGUF_BAD_MAGIC', /not a GGUF/);
  });
  it('truncated file', () => {
    const p = join(dir, 'cut.gguf');
    writeFileSync(p, readFileSync(DEFAULT_MODEL_PATH).subarray(0, 600_000));
    return expectLoadError(p, 'GGUF_TRUNCATED', /truncated/);
  });
  it('unknown architecture', () =>
    expectLoadError(variant('arch.gguf', { metadata: { 'general.architecture': gguf.str('mamba9') } }), 'UNSUPPORTED_ARCHITECTURE', /'mamba9' is not supported/));
  it('missing hyperparameter', () => {
    const path = join(dir, 'nohp.gguf');
    const metadata = new Map(source.metadata);
    metadata.delete('llama.embedding_length');
    writeGguf(path, { metadata, tensors: source.tensors.map((t) => ({ ...t, data: sourceData.get(t.name)! })) });
    return expectLoadError(path, 'MISSING_METADATA', /llama\.embedding_length/);
  });
  it('missing tensor', () =>
    expectLoadError(variant('notensor.gguf', { tensors: (ts) => ts.filter((t) => t.name !== 'blk.3.ffn_up.weight') }), 'MISSING_TENSOR', /blk\.3\.ffn_up\.weight/));
  it('tensor with the wrong shape', () =>
    expectLoadError(
      variant('shape.gguf', {
        tensors: (ts) => ts.map((t) => (t.name === 'blk.0.attn_q.weight' ? { ...t, shape: [32, 128] } : t)),
      }),
      'BAD_TENSOR_SHAPE',
      /blk\.0\.attn_q\.weight.*\[32,128\].*\[64,64\]/,
    ));
  it('tensor type Peregrine does not support', () =>
    expectLoadError(
      variant('q41.gguf', {
        tensors: (ts) =>
          ts.map((t) =>
            t.name === 'blk.1.attn_q.weight'
              ? { ...t, type: GgmlType.Q4_1, data: new Uint8Array(ggmlByteSize(GgmlType.Q4_1, 64 * 64)) }
              : t,
          ),
      }),
      'UNSUPPORTED_TENSOR_TYPE',
      /blk\.1\.attn_q\.weight.*Q4_1/,
    ));
  it('unsupported tokenizer', () =>
    expectLoadError(variant('tok.gguf', { metadata: { 'tokenizer.ggml.model': gguf.str('rwkv') } }), 'UNSUPPORTED_TOKENIZER', /rwkv/));
  it('model path is a directory: one typed error, before any read', () => {
    const p = join(dir, 'models-dir');
    mkdirSync(p);
    return expectLoadError(p, 'FILE_READ_FAILED', /models-dir is a directory, not a model file/);
  });
  it('duplicate tensor name (the second would silently shadow the first)', () =>
    expectLoadError(
      variant('dup.gguf', { tensors: (ts) => [...ts, { ...ts.find((t) => t.name === 'blk.2.attn_v.weight')! }] }),
      'GGUF_CORRUPT',
      /duplicate tensor name 'blk\.2\.attn_v\.weight'/,
    ));
  it('a tensor the architecture does not use (a renamed tensor, a bias llama ignores): refused, as llama.cpp does', () =>
    expectLoadError(
      variant('extra.gguf', {
        tensors: (ts) => [...ts, { name: 'blk.0.attn_q.bias', shape: [64], type: GgmlType.F32, data: new Uint8Array(64 * 4) }],
      }),
      'GGUF_CORRUPT',
      /tensor 'blk\.0\.attn_q\.bias' is not used by the llama architecture/,
    ));

  it('two tensors sharing bytes', () => {
    const p = join(dir, 'overlap.gguf');
    const b = readFileSync(variant('overlap-src.gguf', {}));
    // point blk.0.attn_k.weight's data at blk.0.attn_q.weight's (same shape and type)
    const offsetAt = (name: string): number => {
      const at = b.indexOf(Buffer.from(name));
      return at + name.length + 4 + 8 * b.readUInt32LE(at + name.length) + 4; // numDims, dims, type
    };
    b.writeBigUInt64LE(b.readBigUInt64LE(offsetAt('blk.0.attn_q.weight')), offsetAt('blk.0.attn_k.weight'));
    writeFileSync(p, b);
    return expectLoadError(p, 'GGUF_CORRUPT', /tensor 'blk\.0\.attn_k\.weight' has data offset \d+, expected \d+/);
  });
  it('inconsistent head counts', () =>
    expectLoadError(variant('heads.gguf', { metadata: { 'llama.attention.head_count_kv': gguf.u32(3) } }), 'BAD_TENSOR_SHAPE', /head_count_kv 3/));
});

describe('loadModel: bad options', () => {
  it('an unknown matmul precision is an invalid argument, not a silent fallback', async () => {
    const err = await loadModel(DEFAULT_MODEL_PATH, { matmulPrecision: 'fp8' as 'bf16' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/matmulPrecision must be 'exact', 'bf16' or 'fastest'/);
  });
});
