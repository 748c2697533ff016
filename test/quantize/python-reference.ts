import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * llama.cpp's own code, driven from Python for the quantization tests:
 * - llama_model_quantize from node-llama-cpp's prebuilt libllama (linux-x64 only), through ctypes;
 * - the `gguf` package 0.19.0 (llama.cpp's gguf-py): numpy quantizers and GGUFWriter.
 * Each is undefined (and the tests that need it skip, saying why) where it is missing.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const execFileAsync = promisify(execFile);

/** The folder of node-llama-cpp's prebuilt libllama for this machine, or undefined. */
export const LLAMA_LIB_DIR: string | undefined = (() => {
  if (platform() !== 'linux' || arch() !== 'x64') return undefined;
  const dir = join(ROOT, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
  return existsSync(dir) && readdirSync(dir).some((f) => /^libllama.*\.so$/.test(f)) ? dir : undefined;
})();

function pythonWorks(env: NodeJS.ProcessEnv, code: string): boolean {
  const r = spawnSync('python3', ['-c', code], { env, encoding: 'utf8', timeout: 60_000 });
  return r.status === 0;
}

/**
 * The environment in which python3 imports `gguf` and numpy: as installed, else with the gguf wheel
 * that these machines carry (/opt/pypi/files) on PYTHONPATH (a pure-Python wheel imports from the
 * zip); undefined when neither works.
 */
export const GGUF_PY_ENV: NodeJS.ProcessEnv | undefined = (() => {
  const probe = 'import gguf, gguf.quants, numpy';
  if (pythonWorks(process.env, probe)) return process.env;
  const wheels = existsSync('/opt/pypi/files') ? readdirSync('/opt/pypi/files').filter((f) => /^gguf-.*\.whl$/.test(f)) : [];
  for (const wheel of wheels) {
    const env = { ...process.env, PYTHONPATH: join('/opt/pypi/files', wheel) };
    if (pythonWorks(env, probe)) return env;
  }
  return undefined;
})();

export const HAS_PYTHON = pythonWorks(process.env, 'import ctypes');

/** Runs python3 with `args` (asynchronously: the test worker stays responsive); rejects with its stderr when it fails. */
export async function runPython(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await execFileAsync('python3', args, { env, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 28 });
    return stdout;
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    throw new Error(`python3 ${args[0]} failed (${String(e.code)}): ${e.stderr ?? String(err)}`);
  }
}

/** One llama_model_quantize job: input, output, llama_ftype and whether it is Peregrine's MXFP4 placement. */
export interface LlamaQuantizeJob {
  readonly input: string;
  readonly output: string;
  readonly fileType: number;
  readonly isPureWithQ8Embeddings?: boolean;
}

/** Quantizes with llama.cpp's llama_model_quantize (needs LLAMA_LIB_DIR and python3). */
export async function llamaQuantize(jobs: readonly LlamaQuantizeJob[]): Promise<void> {
  const args = jobs.flatMap((j) => [j.input, j.output, `${j.fileType}${j.isPureWithQ8Embeddings ? ':pure-q8-embeddings' : ''}`]);
  await runPython([join(import.meta.dirname, 'llama_quantize.py'), LLAMA_LIB_DIR!, ...args]);
}
