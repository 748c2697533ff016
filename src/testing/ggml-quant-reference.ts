import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * llama.cpp's own quantizers, for tests that check ours bit for bit:
 * - the C ones (quantize_row_*_ref, dequantize_row_*) from the libggml-base shared library that
 *   node-llama-cpp 3.21.1 ships, called through a tiny C program compiled here with `cc` (dlopen);
 * - the numpy ones of llama.cpp's Python package `gguf` (gguf.quants), run with python3.
 * Each returns undefined with the reason when it cannot run here, so the test can skip saying why.
 */

export type Available<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** quantize / dequantize with the row functions of llama.cpp's libggml-base */
export interface GgmlCQuantizer {
  /** quantize_row_<name>_ref(x, out, n): the bytes of n values */
  quantize(name: string, x: Float32Array, numBytes: number): Uint8Array;
  /** dequantize_row_<name>(bytes, out, n) */
  dequantize(name: string, bytes: Uint8Array, n: number): Float32Array;
}

const HARNESS_C = String.raw`
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*row_fn)(const void *, void *, int64_t);
int main(int argc, char ** argv) {
  if (argc != 6) return 2;
  void * lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 3; }
  row_fn fn = (row_fn) dlsym(lib, argv[2]);
  if (!fn) { fprintf(stderr, "no symbol %s\n", argv[2]); return 4; }
  long n = atol(argv[3]), in_bytes = atol(argv[4]), out_bytes = atol(argv[5]);
  void * in = malloc(in_bytes), * out = calloc(1, out_bytes);
  if (fread(in, 1, in_bytes, stdin) != (size_t) in_bytes) return 5;
  fn(in, out, n);
  fwrite(out, 1, out_bytes, stdout);
  return 0;
}
`;

function libggmlBase(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve(`@node-llama-cpp/${process.platform}-${process.arch}`); // <package>/dist/index.js
    const lib = join(dirname(dirname(main)), 'bins', `${process.platform}-${process.arch}`, 'libggml-base.so');
    return existsSync(lib) ? lib : undefined;
  } catch {
    return undefined;
  }
}

let cQuantizer: Available<GgmlCQuantizer> | undefined;

export function ggmlCQuantizer(): Available<GgmlCQuantizer> {
  if (cQuantizer) return cQuantizer;
  const lib = libggmlBase();
  if (!lib) return (cQuantizer = { ok: false, reason: `no libggml-base.so of @node-llama-cpp/${process.platform}-${process.arch}` });
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-ggml-ref-'));
  const src = join(dir, 'harness.c');
  const exe = join(dir, 'harness');
  writeFileSync(src, HARNESS_C);
  const cc = spawnSync('cc', ['-O1', '-o', exe, src, '-ldl'], { encoding: 'utf8' });
  if (cc.status !== 0) return (cQuantizer = { ok: false, reason: `cannot compile the C harness with cc: ${cc.error?.message ?? cc.stderr}` });
  const run = (fn: string, n: number, input: Uint8Array, outBytes: number): Uint8Array =>
    new Uint8Array(execFileSync(exe, [lib, fn, String(n), String(input.length), String(outBytes)], { input, maxBuffer: 1 << 28 }));
  cQuantizer = {
    ok: true,
    value: {
      quantize: (name, x, numBytes) => run(`quantize_row_${name}_ref`, x.length, new Uint8Array(x.buffer, x.byteOffset, x.byteLength), numBytes),
      dequantize(name, bytes, n) {
        const out = run(`dequantize_row_${name}`, n, bytes, n * 4);
        return new Float32Array(out.buffer, out.byteOffset, n);
      },
    },
  };
  return cQuantizer;
}

const CHUNK_HARNESS_C = String.raw`
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
typedef size_t (*chunk_fn)(int, const float *, void *, int64_t, int64_t, int64_t, const float *);
int main(int argc, char ** argv) {
  if (argc != 6) return 2;
  void * lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 3; }
  chunk_fn fn = (chunk_fn) dlsym(lib, "ggml_quantize_chunk");
  if (!fn) { fprintf(stderr, "no symbol ggml_quantize_chunk\n"); return 4; }
  int type = atoi(argv[2]); long nrows = atol(argv[3]), ncols = atol(argv[4]), out_bytes = atol(argv[5]);
  float * x = malloc(nrows * ncols * 4), * imatrix = malloc(ncols * 4);
  void * out = calloc(1, out_bytes);
  if (fread(x, 4, nrows * ncols, stdin) != (size_t) (nrows * ncols)) return 5;
  if (fread(imatrix, 4, ncols, stdin) != (size_t) ncols) return 6;
  size_t n = fn(type, x, out, 0, nrows, ncols, imatrix);
  fwrite(out, 1, n, stdout);
  return 0;
}
`;

/** ggml_quantize_chunk(type, x, out, 0, rows, numCols, imatrix): llama-quantize's call, with an importance matrix ([numCols]) */
export type GgmlChunkQuantizer = (type: number, x: Float32Array, numCols: number, imatrix: Float32Array, numBytes: number) => Uint8Array;

let chunkQuantizer: Available<GgmlChunkQuantizer> | undefined;

export function ggmlChunkQuantizer(): Available<GgmlChunkQuantizer> {
  if (chunkQuantizer) return chunkQuantizer;
  const lib = libggmlBase();
  if (!lib) return (chunkQuantizer = { ok: false, reason: `no libggml-base.so of @node-llama-cpp/${process.platform}-${process.arch}` });
  const dir = mkdtempSync(join(tmpdir(), 'peregrine-ggml-chunk-'));
  const src = join(dir, 'harness.c');
  const exe = join(dir, 'harness');
  writeFileSync(src, CHUNK_HARNESS_C);
  const cc = spawnSync('cc', ['-O1', '-o', exe, src, '-ldl'], { encoding: 'utf8' });
  if (cc.status !== 0) return (chunkQuantizer = { ok: false, reason: `cannot compile the C harness with cc: ${cc.error?.message ?? cc.stderr}` });
  return (chunkQuantizer = {
    ok: true,
    value(type, x, numCols, imatrix, numBytes) {
      const input = new Uint8Array(x.byteLength + imatrix.byteLength);
      input.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      input.set(new Uint8Array(imatrix.buffer, imatrix.byteOffset, imatrix.byteLength), x.byteLength);
      const args = [lib, String(type), String(x.length / numCols), String(numCols), String(numBytes)];
      return new Uint8Array(execFileSync(exe, args, { input, maxBuffer: 1 << 28 }));
    },
  });
}

/**
 * Runs `script` with python3, numpy and `gguf` (llama.cpp's package, 0.19.0) importable; the script
 * reads its input bytes from stdin (`sys.stdin.buffer.read()`) and writes its output bytes to stdout.
 * When gguf is not installed, PYTHONPATH may name its wheel (pure Python, importable from the zip).
 */
export function pythonGguf(): Available<(script: string, input: Uint8Array) => Uint8Array> {
  const probe = spawnSync('python3', ['-c', 'import numpy, gguf.quants; from importlib.metadata import version; print(version("gguf"))'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return { ok: false, reason: `python3 with numpy and gguf 0.19.0 is not available (pip install gguf==0.19.0, or PYTHONPATH=<its wheel>): ${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()}` };
  }
  return { ok: true, value: (script, input) => new Uint8Array(execFileSync('python3', ['-c', script], { input, maxBuffer: 1 << 28 })) };
}
