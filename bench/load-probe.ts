/**
 * One engine's model load, alone in its own process (bench/decode-prefill.ts runs it as a child, so
 * that each engine's peak RSS is its own): the wall time to load the model and be ready to run it
 * (Peregrine: loadModel; llama.cpp: loadModel + createContext, whose KV cache it allocates there),
 * then one token evaluated (so Peregrine's KV cache and both engines' scratch exist), then the
 * process's peak RSS (VmHWM). Prints one JSON line: {loadMs, peakRssBytes, baselineRssBytes}, the
 * baseline being the RSS before the load (the runtime and the imports).
 *
 *   vite-node bench/load-probe.ts -- --engine=peregrine|llama.cpp --model=PATH --threads=2 --context=656
 */
import { readFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/api/index.js';

/** the process's RSS or peak RSS in bytes, from /proc/self/status (VmRSS / VmHWM) */
function procStatusBytes(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status has no ${field}`);
  return Number(match[1]) * 1024;
}

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const engine = args.get('engine');
const modelPath = args.get('model');
const threads = Number(args.get('threads') ?? 2);
const contextSize = Number(args.get('context') ?? 656);
if ((engine !== 'peregrine' && engine !== 'llama.cpp') || !modelPath) throw new Error('usage: --engine=peregrine|llama.cpp --model=PATH [--threads=N] [--context=N]');

const prompt = [1000, 1001, 1002, 1003];
let loadMs: number;
let baselineRssBytes: number;
if (engine === 'peregrine') {
  baselineRssBytes = procStatusBytes('VmRSS');
  const t0 = performance.now();
  const model = await loadModel(modelPath, { contextSize, backend: 'native', threads });
  loadMs = performance.now() - t0;
  await model.complete(prompt, { temperature: 0, maxTokens: 1 });
  model.dispose();
} else {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0, progressLogs: false, skipDownload: true });
  baselineRssBytes = procStatusBytes('VmRSS');
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize, sequences: 1, threads, flashAttention: 'auto' });
  loadMs = performance.now() - t0;
  await context.getSequence().evaluateWithoutGeneratingNewTokens(prompt as Token[]);
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}
console.log(JSON.stringify({ loadMs, peakRssBytes: procStatusBytes('VmHWM'), baselineRssBytes }));
