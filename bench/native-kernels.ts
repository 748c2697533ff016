/**
 * Native kernel throughput: GEMV (1 token) in GB/s of weight bytes read and GEMM (--tokens, 64) in
 * GFLOP/s, for 2048x8192 Q4_0 / Q8_0 (and F16 / BF16 / MXFP4 / NVFP4 / FP8_E4M3) matrices, on 1 and 2 threads.
 *
 *   npx vite-node bench/native-kernels.ts [--threads=1,2] [--types=Q4_0,Q8_0,F16,BF16] [--cold] [--pack] [--isa=avx512-bf16] [--tokens=64] [--bf16]
 *
 * --pack also runs Q4_0 / Q8_0 / Q4_K with packWeights (16-row interleaved layout). Each line gives wall
 * time and, in brackets, throughput per CPU-second of the whole process (all threads): on a shared
 * machine the wall numbers move with the load, the CPU ones much less.
 *
 * "hot" runs one matrix over and over (it stays in the last-level cache when that is big enough);
 * "cold" (--cold) cycles through copies totalling ~600 MB, so weights come from DRAM each call.
 */
import { randomFillSync } from 'node:crypto';
import { GgmlType, ggmlByteSize, ggmlTypeName, ggmlTypeTraits } from '../src/formats/ggml-type.js';
import type { WeightTensor } from '../src/kernels/kernel-backend.js';
import type { NativeIsa } from '../src/kernels/native/native-addon.js';
import { probeNativeBackend } from '../src/kernels/native/native-backend.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const threadCounts = (args.get('threads') ?? '1,2').split(',').map(Number);
const types = (args.get('types') ?? 'Q4_0,Q8_0').split(',').map((t) => GgmlType[t as keyof typeof GgmlType]);
const isCold = args.has('cold');
const isa = args.get('isa') as NativeIsa | undefined;
const numTokens = Number(args.get('tokens') ?? 64);
const numRows = 2048;
const numCols = 8192;

/** random weights with finite, small scales (the kernels' speed does not depend on the values) */
function randomWeight(type: GgmlType): WeightTensor {
  const data = randomFillSync(new Uint8Array(ggmlByteSize(type, numRows * numCols)));
  const setHalf = (offset: number, bits: number): void => {
    data[offset] = bits & 0xff;
    data[offset + 1] = bits >> 8;
  };
  if (type === GgmlType.Q4_0 || type === GgmlType.Q8_0) {
    for (let o = 0; o < data.length; o += ggmlTypeTraits(type)!.typeSize) setHalf(o, 0x1c00);
  } else if (type === GgmlType.F32) {
    const f = new Float32Array(data.buffer);
    for (let i = 0; i < f.length; i++) f[i] = (data[4 * i]! - 127.5) / 4096; // no NaN / denormals
  } else if (type === GgmlType.F16) {
    for (let o = 0; o < data.length; o += 2) setHalf(o, (data[o + 1]! & 0x83) << 8 | data[o]!); // |x| < 2^-12
  } else if (type === GgmlType.BF16) {
    for (let o = 0; o < data.length; o += 2) setHalf(o, 0x3c00 | (data[o + 1]! & 0x80) << 8 | data[o]!);
  } else if (type === GgmlType.MXFP4 || type === GgmlType.FP8_E4M3) {
    for (let o = 0; o < data.length; o += ggmlTypeTraits(type)!.typeSize) data[o] = 127; // E8M0 scale 1
  } else if (type === GgmlType.NVFP4) {
    for (let o = 0; o < data.length; o += 36) data.fill(0x38, o, o + 4); // UE4M3 scales 1
  }
  return { name: 'w', type, numRows, numCols, data };
}

/** per-call seconds: the median of calls repeated for ~minSeconds, and the mean process CPU per call */
function timeCalls(fn: (i: number) => void, minSeconds: number): { median: number; best: number; cpu: number } {
  for (let i = 0; i < 3; i++) fn(i);
  const times: number[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; performance.now() - start < minSeconds * 1000 || times.length < 5; i++) {
    const t0 = performance.now();
    fn(i);
    times.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerCall = (cpu.user + cpu.system) / 1e6 / times.length;
  times.sort((a, b) => a - b);
  return { median: times[times.length >> 1]!, best: times[0]!, cpu: cpuPerCall };
}

const isPacking = args.has('pack');
for (const [threads, packWeights] of threadCounts.flatMap((t) => (isPacking ? [[t, false], [t, true]] : [[t, false]]) as Array<[number, boolean]>)) {
  const probe = probeNativeBackend({ threads, packWeights, ...(isa ? { isa } : {}), ...(args.has('bf16') ? { matmulPrecision: 'bf16' as const } : {}) });
  if (!probe.ok) throw new Error(probe.reason);
  const backend = probe.backend;
  for (const type of types) {
    if (packWeights && ggmlTypeTraits(type)?.native?.packedFrom === undefined) continue;
    const w = randomWeight(type);
    const copies = isCold ? Math.ceil(600e6 / w.data.length) : 1;
    const ws = [w, ...Array.from({ length: copies - 1 }, () => ({ ...w, data: w.data.slice() }))];
    const bytes = w.data.length;
    const x1 = Float32Array.from({ length: numCols }, () => Math.random() - 0.5);
    const out1 = new Float32Array(numRows);
    for (const copy of ws) backend.matmul(out1, copy, x1, 1); // page in (and pack) every copy before timing
    const gemv = timeCalls((i) => backend.matmul(out1, ws[i % copies]!, x1, 1), 1.5);
    const x64 = Float32Array.from({ length: numTokens * numCols }, () => Math.random() - 0.5);
    const out64 = new Float32Array(numTokens * numRows);
    const gemm = timeCalls((i) => backend.matmul(out64, ws[i % copies]!, x64, numTokens), 1.5);
    const flops = 2 * numRows * numCols * numTokens;
    console.log(
      [
        `${backend.name} threads=${threads} ${ggmlTypeName(type)} ${numRows}x${numCols} (${(bytes / 1e6).toFixed(1)} MB, ${isCold ? 'cold' : 'hot'})`,
        `GEMV ${(gemv.median * 1e6).toFixed(0)} µs = ${(bytes / gemv.median / 1e9).toFixed(1)} GB/s (best ${(bytes / gemv.best / 1e9).toFixed(1)}) [${(bytes / gemv.cpu / 1e9).toFixed(1)} GB/s per CPU-s]`,
        `GEMM×${numTokens} ${(gemm.median * 1e3).toFixed(2)} ms = ${(flops / gemm.median / 1e9).toFixed(0)} GFLOP/s (best ${(flops / gemm.best / 1e9).toFixed(0)}) [${(flops / gemm.cpu / 1e9).toFixed(0)} GFLOP/s per CPU-s]`,
      ].join('  '),
    );
  }
  backend.dispose();
}
