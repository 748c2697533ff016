/**
 * Runs mutated GGUF files the way a user does and classifies each outcome:
 * - clean: an EngineError with a code, its message <= 1 KB with no raw control character
 *   (through the CLI: exit 1 or 2 with one `peregrine: error [CODE]: ...` line)
 * - bad-message: an EngineError whose message is too long or carries a raw control character
 * - crash: any other exception, a signal, or a non-zero exit without an error line
 * - hang: past the time limit
 * - accepted: loaded and generated
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import { EngineError } from '../../src/errors/engine-error.js';
import { readGguf } from '../../src/formats/gguf/index.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { mutateGguf, parseLayout, type GgufLayout, type Mutation } from './gguf-mutator.js';

export type Outcome = 'clean' | 'bad-message' | 'crash' | 'hang' | 'accepted';

export interface CaseResult {
  readonly seed: number;
  readonly base: string;
  readonly via: 'in-process' | 'cli';
  readonly outcome: Outcome;
  readonly mutations: readonly Mutation[];
  readonly isDataOnly: boolean;
  /** the error code (clean) or what went wrong (crash, hang) */
  readonly code?: string;
  readonly message?: string;
  readonly messageLength: number;
  readonly ms: number;
}

export const MAX_MESSAGE_BYTES = 1024;
/** what a terminal may act on: C0 (line ends included: a message is one line), DEL, C1, separators, bidi */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const PROMPT = 'Once upon a time';

export interface BaseFile {
  readonly name: string;
  readonly layout: GgufLayout;
}

/** The valid files mutations start from: the bundled stories260K (F32) and a synthetic tiny-64 Q8_0 model. */
export function loadBaseFiles(dir: string): BaseFile[] {
  const stories = DEFAULT_MODEL_PATH;
  const synthetic = join(dir, 'base-tiny-64-q8_0.gguf');
  writeSyntheticModel(synthetic, { shape: 'tiny-64', weightType: 'Q8_0', seed: 1 });
  const bases: BaseFile[] = [{ name: 'tiny-64-q8_0', layout: parseLayout(readFileSync(synthetic)) }];
  if (existsSync(stories)) bases.unshift({ name: 'stories260K', layout: parseLayout(readFileSync(stories)) });
  return bases;
}

export function isCleanMessage(message: string): boolean {
  return Buffer.byteLength(message) <= MAX_MESSAGE_BYTES && !UNSAFE.test(message);
}

/** The case for `seed`: which base file (the seed picks it) and which mutations. */
export function buildCase(bases: readonly BaseFile[], seed: number, dir: string) {
  const base = bases[seed % bases.length]!;
  const mutated = mutateGguf(base.layout, seed);
  const path = join(dir, `case-${seed}.gguf`);
  writeFileSync(path, mutated.bytes);
  return { path, base: base.name, ...mutated };
}

/** readGguf, loadModel (reference kernels, 1 thread, 64-token context), 2 greedy tokens. */
async function runInProcess(path: string): Promise<{ outcome: Outcome; code?: string; message?: string }> {
  try {
    readGguf(path);
    const model = await loadModel(path, { backend: 'reference', threads: 1, contextSize: 64 });
    try {
      await model.complete(PROMPT, { maxTokens: 2, temperature: 0 });
    } finally {
      model.dispose();
    }
    return { outcome: 'accepted' };
  } catch (err) {
    if (err instanceof EngineError && typeof err.code === 'string') {
      return { outcome: isCleanMessage(err.message) ? 'clean' : 'bad-message', code: err.code, message: err.message };
    }
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { outcome: 'crash', code: 'NOT_AN_ENGINE_ERROR', message: message.slice(0, 2000) };
  }
}

const ERROR_LINE = /^peregrine: error \[([A-Z0-9_]+)\]: (.*)$/m;

/** `peregrine generate` on the file in a child process, killed after `timeoutMs`. */
function runCli(path: string, timeoutMs: number): { outcome: Outcome; code?: string; message?: string } {
  const args = [CLI, 'generate', '--model', path, '--prompt', PROMPT, '--max-tokens', '2', '--temperature', '0', '--threads', '1', '--context-size', '64'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  const stderr = r.stderr ?? '';
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') return { outcome: 'hang', code: `TIMEOUT_${timeoutMs}MS` };
  if (r.signal) return { outcome: 'crash', code: r.signal, message: stderr.slice(-2000) };
  if (r.status === 0) return { outcome: 'accepted' };
  const line = ERROR_LINE.exec(stderr);
  if (!line || /internal error/.test(stderr)) return { outcome: 'crash', code: `EXIT_${r.status}`, message: stderr.slice(0, 2000) };
  // the whole of stderr past the 'loaded' line must be that one error line
  const clean = isCleanMessage(line[2]!) && !UNSAFE.test(stderr.replace(/\n/g, ''));
  return { outcome: clean ? 'clean' : 'bad-message', code: line[1], message: line[2] };
}

export interface RunOptions {
  readonly via: 'in-process' | 'cli';
  /** in-process cases past this are reported as hangs (they cannot be interrupted) */
  readonly timeoutMs: number;
  /** keep the mutated file (for replays) */
  readonly keepFile?: boolean;
}

export async function runCase(bases: readonly BaseFile[], seed: number, dir: string, options: RunOptions): Promise<CaseResult & { path: string }> {
  const c = buildCase(bases, seed, dir);
  const start = performance.now();
  let r = options.via === 'cli' ? runCli(c.path, options.timeoutMs) : await runInProcess(c.path);
  const ms = performance.now() - start;
  if (options.via === 'in-process' && ms > options.timeoutMs && r.outcome !== 'crash') {
    r = { outcome: 'hang', code: `SLOW_${Math.round(ms)}MS`, message: r.message };
  }
  if (!options.keepFile) rmSync(c.path, { force: true });
  return {
    seed, base: c.base, via: options.via, outcome: r.outcome, mutations: c.mutations, isDataOnly: c.isDataOnly,
    code: r.code, message: r.message, messageLength: r.message === undefined ? 0 : Buffer.byteLength(r.message), ms, path: c.path,
  };
}

export function makeFuzzDir(): string {
  return mkdtempSync(join(tmpdir(), 'peregrine-fuzz-'));
}

/** `kind: detail; kind: detail` */
export function describeMutations(mutations: readonly Mutation[]): string {
  return mutations.map((m) => `${m.kind}: ${m.detail}`).join('; ');
}

/**
 * Why a file that loaded after `mutations` is fine to have loaded, or undefined when a person must
 * look at it. Each mutation must be one of: a change in tensor data; a metadata key dropped or
 * renamed (the file still loaded, so the key was optional and its default applies, or it became an
 * unknown key and is ignored, as llama.cpp does); a metadata value changed to another value the
 * loader checks and accepts (a token score, an in-range token type or special id, a name); GGUF
 * version 2 for 3 (the same layout); a shape
 * that gained trailing 1-dims (the same ggml tensor); a tensor retyped to a type of the same byte
 * size (its bytes read as other values); or no change at all.
 */
export function justifyAccepted(mutations: readonly Mutation[]): string | undefined {
  const reasons = new Set<string>();
  for (const m of mutations) {
    const reason = justifyOne(m);
    if (reason === undefined) return undefined;
    reasons.add(reason);
  }
  return [...reasons].sort().join(' + ');
}

function justifyOne(m: Mutation): string | undefined {
  if (m.detail.endsWith('(no change)')) return 'no change';
  switch (m.kind) {
    case 'header.version':
      // v2 and v3 share the little-endian layout
      return /version = [23]$/.test(m.detail) ? 'GGUF version 2 or 3' : undefined;
    case 'data.bytes':
    case 'data.fill':
      return 'tensor data';
    case 'bytes.flip':
      if (m.detail.includes('(tensor data)')) return 'tensor data';
      if (m.detail.includes('(value of ')) return 'metadata value';
      if (m.detail.includes('(key of ')) return 'metadata key dropped or renamed';
      return undefined;
    case 'kv.keyBytes':
    case 'kv.renameKey':
    case 'kv.drop':
      return 'metadata key dropped or renamed';
    case 'kv.value':
    case 'kv.arrayItem':
    case 'kv.replaceValue':
    case 'kv.type':
    case 'kv.arrayItemType':
      return 'metadata value';
    case 'tensor.reshape': {
      const shapes = /shape \[([\d,]*)\] -> \[([\d,]*)\]/.exec(m.detail);
      if (!shapes) return undefined;
      const [before, after] = [shapes[1]!.split(','), shapes[2]!.split(',')];
      const isTrailingOnes = after.length > before.length && before.every((d, i) => d === after[i]) && after.slice(before.length).every((d) => d === '1');
      return isTrailingOnes ? 'trailing 1-dims' : undefined;
    }
    case 'tensor.type':
      // it loaded, so the contiguity check found the same byte size: the bytes are read as other values
      return 'retyped, same size';
    default:
      return undefined;
  }
}
