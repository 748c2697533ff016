/**
 * Weight types side by side: one Llama forward step on the native backend (prefill 64 tokens, then
 * 12 greedy decode steps, median), every model loaded at once (weights through uploadWeight, as
 * the engine loads them) and the rounds interleaved over addons × types, so that a shared, noisy
 * machine slows them alike; prints tokens/s and the ratios to Q4_0 and Q8_0 in the same run.
 * With several addons (an old build copied aside, the new one) it is an A/B of kernel changes.
 *
 *   npx vite-node bench/native-types-ab.ts [--types=Q4_0,Q8_0,MXFP4,NVFP4,FP8_E4M3] [--addons=a.node,b.node]
 *                                          [--rounds=3] [--threads=2] [--dir=<folder>]
 *
 * Models: the synthetic Llama-3.2-1B shape with 4 layers and a 32k vocabulary in the temp folder
 * (written on first use), or with --dir that folder's llama-3.2-1b-<type>.gguf files (such as
 * ~/.cache/peregrine/models, where `npm run bench` writes the full 1B shape).
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf } from '../src/formats/gguf/index.js';
import { NATIVE_ADDON_PATH } from '../src/kernels/native/native-addon.js';
import { probeNativeBackend } from '../src/kernels/native/native-backend.js';
import { Workspace } from '../src/models/workspace.js';
import { LlamaModel, parseLlamaConfig } from '../src/models/llama.js';
import { buildForwardBatch } from '../src/runner/build-forward-batch.js';
import { writeSyntheticModel, type SyntheticWeightType } from '../src/testing/synthetic-model.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const types = (args.get('types') ?? 'Q4_0,Q8_0,MXFP4,NVFP4,FP8_E4M3').split(',') as SyntheticWeightType[];
const addons = (args.get('addons') ?? NATIVE_ADDON_PATH).split(',');
const rounds = Number(args.get('rounds') ?? 3);
const threads = Number(args.get('threads') ?? 2);
const numPrefill = 64, numDecode = 12;
const shape = { name: 'bench-1b-4l', dim: 2048, numLayers: 4, numHeads: 32, numKvHeads: 8, headDim: 64, ffnDim: 8192, vocabSize: 32000, contextLength: 4096, ropeTheta: 500000, rmsNormEps: 1e-5, hasTiedEmbeddings: true, vocabKind: 'spm' } as const;
const prompt = Int32Array.from({ length: numPrefill }, (_, i) => 300 + ((i * 7919) % 30000));
const models = new Map<string, { model: LlamaModel; dispose: () => void }>();
for (const addon of addons) for (const type of types) {
  const dir = args.get('dir');
  const path = dir !== undefined ? join(dir, `llama-3.2-1b-${type}.gguf`) : join(tmpdir(), `peregrine-${shape.name}-${type}.gguf`);
  if (!existsSync(path)) {
    if (dir !== undefined) throw new Error(`${path}: no such file`);
    writeSyntheticModel(path, { shape, weightType: type, seed: 1 });
  }
  const file = readGguf(path);
  const config = parseLlamaConfig(file);
  const probe = probeNativeBackend({ threads, addonPath: addon });
  if (!probe.ok) throw new Error(probe.reason);
  models.set(`${addon}|${type}`, { model: new LlamaModel(config, file, probe.backend), dispose: () => probe.backend.dispose() });
}
function run(model: LlamaModel): { prefill: number; decode: number } {
  const cfg = model.config;
  const blockSize = 16;
  const numBlocks = Math.ceil((numPrefill + numDecode) / blockSize) + 1;
  const kv = model.backend.allocateKvCache({ numLayers: cfg.numLayers, kvDim: cfg.numKvHeads * cfg.headDim, numBlocks, blockSize, dtype: 'f16' });
  const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => i);
  const batch = (ids: Int32Array, start: number) => buildForwardBatch([{ tokenIds: [...ids], startPosition: start, blockTable, logitRows: [ids.length - 1] }], blockSize, new Workspace(model.backend));
  let t = performance.now();
  let logits = model.backend.read(model.forward(batch(prompt, 0), kv));
  const prefill = (performance.now() - t) / 1e3;
  const ds: number[] = [];
  for (let i = 0; i < numDecode; i++) {
    let next = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[next]!) next = v;
    t = performance.now();
    logits = model.backend.read(model.forward(batch(Int32Array.from([next]), numPrefill + i), kv));
    ds.push((performance.now() - t) / 1e3);
  }
  kv.dispose();
  ds.sort((a, b) => a - b);
  return { prefill: numPrefill / prefill, decode: 1 / ds[ds.length >> 1]! };
}
const res = new Map<string, { p: number[]; d: number[] }>();
for (const [k, m] of models) { run(m.model); res.set(k, { p: [], d: [] }); }
for (let r = 0; r < rounds; r++) for (const [k, m] of models) { const x = run(m.model); res.get(k)!.p.push(x.prefill); res.get(k)!.d.push(x.decode); }
const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
for (const addon of addons) {
  const q4 = res.get(`${addon}|Q4_0`), q8 = res.get(`${addon}|Q8_0`);
  console.log(addon);
  for (const type of types) {
    const x = res.get(`${addon}|${type}`)!;
    const rel = (y?: { p: number[]; d: number[] }) => y ? `prefill ×${(med(x.p) / med(y.p)).toFixed(2)} decode ×${(med(x.d) / med(y.d)).toFixed(2)}` : '';
    console.log(`  ${type.padEnd(9)} prefill ${med(x.p).toFixed(1).padStart(6)} tok/s  decode ${med(x.d).toFixed(1).padStart(6)} tok/s   vs Q4_0: ${rel(q4)}   vs Q8_0: ${rel(q8)}`);
  }
}
for (const m of models.values()) m.dispose();
