/**
 * Worker threads that convert a model's chunks (tensor-chunks.ts) in parallel, for
 * quantizeModelFile, which writes them in order (convertInOrder). Each worker converts one chunk at
 * a time; chunks wait here for an idle one. A chunk's error comes back as the error convertChunk
 * threw on the main thread would be (the same class, code and message; serialized-error.ts); a
 * worker that crashes or exits fails every chunk not yet converted with EngineDeadError
 * WORKER_FAILED. The workers are started as worker-launch.ts starts the device workers: the built
 * chunk-worker.js from dist/, the .ts source through the source loader under vitest and vite-node.
 */
import { Worker } from 'node:worker_threads';
import { EngineDeadError } from '../errors/engine-error.js';
import { reviveEngineError, type SerializedError } from '../errors/serialized-error.js';
import { workerEntry } from '../parallel/worker-launch.js';
import type { ChunkJob } from './tensor-chunks.js';

/** what a worker is started with: the model file, open in this process (undefined: the jobs carry their bytes) */
export interface ChunkWorkerData {
  readonly fd: number | undefined;
  readonly shownPath: string;
}

export interface ChunkRequest {
  readonly id: number;
  readonly job: ChunkJob;
}

export type ChunkReply = { readonly id: number; readonly bytes: Uint8Array } | { readonly id: number; readonly error: SerializedError };

interface Pending {
  readonly request: ChunkRequest;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

interface PoolThread {
  readonly worker: Worker;
  /** the chunk it is converting */
  current: Pending | undefined;
}

const CHUNK_WORKER = new URL('./chunk-worker.js', import.meta.url);

export class ChunkPool {
  private readonly threads: PoolThread[] = [];
  private readonly waiting: Pending[] = [];
  private nextId = 0;
  /** why no chunk can be converted any more (a worker failed, or the pool was closed) */
  private failure: Error | undefined;
  private closed: Promise<void> | undefined;

  /** `numThreads` workers reading the model file open as `fd` (`shownPath` in messages; undefined: the jobs carry their bytes) */
  constructor(numThreads: number, fd: number | undefined, shownPath: string) {
    const { file, execArgv } = workerEntry(CHUNK_WORKER);
    const workerData: ChunkWorkerData = { fd, shownPath };
    for (let i = 0; i < numThreads; i++) {
      const thread: PoolThread = { worker: new Worker(file, { workerData, execArgv }), current: undefined };
      thread.worker.on('message', (reply: ChunkReply) => this.onReply(thread, reply));
      thread.worker.on('error', (err) => this.fail(new EngineDeadError('WORKER_FAILED', `quantizer thread ${i} failed: ${err.message}`, { cause: err })));
      thread.worker.on('exit', (code) => this.fail(new EngineDeadError('WORKER_FAILED', `quantizer thread ${i} exited with code ${code}`)));
      this.threads.push(thread);
    }
  }

  /** the chunk's bytes in its output type, as convertChunk returns them */
  convert(job: ChunkJob): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ request: { id: this.nextId++, job: ownBuffers(job) }, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates the workers; chunks not converted yet reject with `reason`. Resolves once every worker has ended. */
  close(reason: Error = new Error('the quantizer threads were closed')): Promise<void> {
    this.closed ??= (this.fail(reason), Promise.all(this.threads.map((t) => t.worker.terminate())).then(() => undefined));
    return this.closed;
  }

  private dispatch(): void {
    for (const thread of this.threads) {
      if (thread.current !== undefined) continue;
      const next = this.waiting.shift();
      if (next === undefined) return;
      thread.current = next;
      thread.worker.postMessage(next.request);
    }
  }

  private onReply(thread: PoolThread, reply: ChunkReply): void {
    const pending = thread.current;
    if (pending === undefined || pending.request.id !== reply.id) return;
    thread.current = undefined;
    if ('bytes' in reply) pending.resolve(reply.bytes);
    else pending.reject(reviveEngineError(reply.error, reply.error.message) ?? new Error(reply.error.message));
    this.dispatch();
  }

  /** rejects every chunk not converted yet, and every later one, with `err` (the first failure wins) */
  private fail(err: Error): void {
    this.failure ??= err;
    const pending = [...this.threads.map((t) => t.current), ...this.waiting.splice(0)];
    for (const thread of this.threads) thread.current = undefined;
    for (const p of pending) p?.reject(this.failure);
  }
}

/**
 * `convert` of each job, yielded in the jobs' order, with at most `maxInFlight` chunks started and
 * not yet yielded (so at most that many converted chunks are held). A chunk's failure is thrown in
 * its turn, after the chunks before it: the error the first failing chunk gives, as one thread would.
 */
export async function* convertInOrder(
  jobs: Iterable<ChunkJob>,
  convert: (job: ChunkJob) => Promise<Uint8Array>,
  maxInFlight: number,
): AsyncGenerator<{ readonly job: ChunkJob; readonly bytes: Uint8Array }> {
  const inFlight: { readonly job: ChunkJob; readonly bytes: Promise<Uint8Array> }[] = [];
  for (const job of jobs) {
    const bytes = convert(job);
    bytes.catch(() => undefined); // awaited in its turn below
    inFlight.push({ job, bytes });
    if (inFlight.length >= maxInFlight) {
      const head = inFlight.shift()!;
      yield { job: head.job, bytes: await head.bytes };
    }
  }
  for (const head of inFlight) yield { job: head.job, bytes: await head.bytes };
}

/** the job with arrays a structured clone copies no more of than they show (a subarray would bring its whole buffer) */
function ownBuffers(job: ChunkJob): ChunkJob {
  const own = (a: Float32Array | undefined): Float32Array | undefined => (a === undefined || a.byteLength === a.buffer.byteLength ? a : a.slice());
  const bytes = job.bytes && job.bytes.byteLength !== job.bytes.buffer.byteLength ? job.bytes.slice() : job.bytes;
  const values = own(job.values);
  const columnScales = own(job.columnScales);
  const importance = own(job.importance);
  return { ...job, ...(bytes && { bytes }), ...(values && { values }), ...(columnScales && { columnScales }), ...(importance && { importance }) };
}
