import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { BackendChoice } from '../kernels/select-backend.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import { reviveError, type DeviceCommand, type DeviceInit, type DeviceReply, type DeviceResult, type TransportInit } from './device-protocol.js';
import { DEFAULT_RING_BYTES, SharedMemorySegment } from './shared-memory-segment.js';
import { DEFAULT_PEER_TIMEOUT_MS, TRANSPORT_KINDS, type TransportKind } from './transport.js';
import { TransportError } from './transport-error.js';
import { launchProcess, launchThread, type LaunchedWorker } from './worker-launch.js';

type ReadyReply = Extract<DeviceReply, { kind: 'ready' }>;

export interface DeviceGroupOptions {
  readonly worldSize: number;
  /** 'shared-memory': worker threads of this process; 'socket': child processes on Unix sockets */
  readonly transport: TransportKind;
  /** kernel threads per worker, its own thread included; default 1 */
  readonly threadsPerWorker?: number;
  /** each worker's kernel backend (selectBackend); default 'auto' */
  readonly backend?: BackendChoice;
  /** each worker's matmul precision (selectBackend); default 'exact' */
  readonly matmulPrecision?: MatmulPrecision;
  /** a collective waits at most this long for a peer that makes no progress; default 30000 */
  readonly peerTimeoutMs?: number;
  /**
   * a command a worker has not answered in this long fails with WORKER_FAILED and the worker is
   * killed (it is wedged); default peerTimeoutMs + 30000
   */
  readonly commandTimeoutMs?: number;
  /** every worker must be up (transport connected, backend created) within this; default 60000 */
  readonly startTimeoutMs?: number;
  /** shared-memory transport: bytes of each ring (a power of two); default 256 KiB */
  readonly ringBytes?: number;
  /** shared-memory transport: how long an idle rank polls before it sleeps; default 50 */
  readonly spinMicros?: number;
}

export interface CommandResult {
  readonly result: DeviceResult;
  /** the worker's own time for each run of the command (its repeat), in ms */
  readonly elapsedMs: readonly number[];
}

interface Pending {
  readonly resolve: (r: CommandResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** how long close() waits for the workers to exit on their own before it kills them */
const CLOSE_GRACE_MS = 2000;

/**
 * A group of workers that act as devices, from the parent's side: starts them (threads sharing
 * a SharedMemorySegment, or processes meeting on Unix sockets in a private directory), sends
 * them commands and gets their replies. The workers talk to each other through their transport;
 * the parent only hands out inputs and collects outputs.
 *
 * Failure: a worker that exits or crashes fails its pending command with a TransportError
 * WORKER_FAILED and is marked failed, so its peers' transfers fail with PEER_FAILED (which
 * their own commands report); a worker that does not answer within commandTimeoutMs is killed,
 * with the same effect; a worker whose transfer fails (PEER_FAILED, PEER_TIMEOUT) closes its
 * transport, which fails its peers' transfers in turn. After any of these the group is dead:
 * every later command fails at once with the first failure (a worker's exit, where one died). Nothing waits forever. The owner
 * calls close().
 */
export class DeviceGroup {
  private readonly pending: Map<number, Pending>[];
  private nextId = 0;
  private deadReason: TransportError | undefined;
  private isClosing = false;
  private readonly exited: Promise<void>[];

  private constructor(
    readonly worldSize: number,
    readonly transport: TransportKind,
    private readonly workers: readonly LaunchedWorker[],
    private readonly segment: SharedMemorySegment | undefined,
    private readonly socketDir: string | undefined,
    private readonly commandTimeoutMs: number,
  ) {
    this.pending = workers.map(() => new Map());
    this.exited = workers.map((w, rank) => new Promise<void>((done) => w.onExit((how) => (this.onWorkerExit(rank, how), done()))));
    workers.forEach((w, rank) => w.onReply((reply) => this.onReply(rank, reply)));
  }

  /** Starts the workers and waits until every one is ready; on any failure kills them all and rejects. */
  static async start(options: DeviceGroupOptions): Promise<DeviceGroup> {
    const { worldSize, transport } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1 || worldSize > 64) throw new InvalidRequestError('INVALID_ARGUMENT', `worldSize must be an integer in [1, 64], got ${worldSize}`);
    if (!TRANSPORT_KINDS.includes(transport)) throw new InvalidRequestError('INVALID_ARGUMENT', `transport must be one of ${TRANSPORT_KINDS.join(', ')}, got ${String(transport)}`);
    const threads = options.threadsPerWorker ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidRequestError('INVALID_ARGUMENT', `threadsPerWorker must be an integer in [1, 256], got ${threads}`);
    const peerTimeoutMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
    const segment = transport === 'shared-memory' ? SharedMemorySegment.create(worldSize, options.ringBytes ?? DEFAULT_RING_BYTES) : undefined;
    const socketDir = transport === 'socket' ? mkdtempSync(join(tmpdir(), 'peregrine-tp-')) : undefined;
    const transportInit: TransportInit = segment
      ? { kind: 'shared-memory', buffer: segment.buffer, ringBytes: segment.ringBytes, spinMicros: options.spinMicros ?? 50 }
      : { kind: 'socket', socketDir: socketDir! };
    const launch = transport === 'shared-memory' ? launchThread : launchProcess;
    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    const workers = Array.from({ length: worldSize }, (_, rank) => {
      const init: DeviceInit = { rank, worldSize, transport: transportInit, backend: options.backend ?? 'auto', matmulPrecision: options.matmulPrecision ?? 'exact', threads, peerTimeoutMs, startTimeoutMs };
      return launch(init);
    });
    const group = new DeviceGroup(worldSize, transport, workers, segment, socketDir, options.commandTimeoutMs ?? peerTimeoutMs + 30_000);
    try {
      const ready = await group.waitReady(startTimeoutMs);
      group.backendNames = ready.map((r) => r.backendName);
      group.hasBf16Batches = ready.every((r) => r.hasBf16Batches);
      return group;
    } catch (err) {
      await group.close();
      throw err;
    }
  }

  /** each worker's kernel backend (e.g. `native-avx2`), by rank */
  backendNames: readonly string[] = [];
  /** whether every worker's batch matmuls run in bf16 */
  hasBf16Batches = false;

  /** why the group is dead, once it is */
  get failure(): TransportError | undefined {
    return this.deadReason;
  }

  /** Runs a command on one worker. */
  run(rank: number, command: DeviceCommand): Promise<CommandResult> {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.worldSize) return Promise.reject(new InvalidRequestError('INVALID_ARGUMENT', `no worker ${rank} in a group of ${this.worldSize}`));
    if (this.deadReason) return Promise.reject(this.deadReason);
    if (this.isClosing) return Promise.reject(new TransportError('WORKER_FAILED', 'the device group is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.markDead(rank, new TransportError('WORKER_FAILED', `worker ${rank} did not answer ${command.kind} within ${this.commandTimeoutMs} ms; killed it`));
        this.workers[rank]!.kill();
      }, this.commandTimeoutMs);
      this.pending[rank]!.set(id, { resolve, reject, timer });
      this.workers[rank]!.post({ id, command });
    });
  }

  /** Runs commandFor(rank) on every worker at once; resolves with their results by rank, or rejects with the lowest rank's error. */
  async runAll(commandFor: (rank: number) => DeviceCommand): Promise<CommandResult[]> {
    const settled = await Promise.allSettled(Array.from({ length: this.worldSize }, (_, rank) => this.run(rank, commandFor(rank))));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<CommandResult>).value);
  }

  /** Ends one worker at once, wherever it is (a supervisor's last resort; the group is dead afterwards). */
  kill(rank: number): void {
    this.workers[rank]?.kill();
  }

  /**
   * Asks every worker to close (transport, backend) and exit, kills those still there after 2 s,
   * and removes the socket directory. Safe to call more than once, and on a dead group.
   */
  async close(): Promise<void> {
    if (!this.isClosing) {
      this.isClosing = true;
      this.workers.forEach((w) => w.post({ id: -1, command: { kind: 'close' } }));
      const grace = setTimeout(() => this.workers.forEach((w) => w.kill()), CLOSE_GRACE_MS);
      await Promise.all(this.exited);
      clearTimeout(grace);
      if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    }
    await Promise.all(this.exited);
  }

  /** each worker's ready message, by rank */
  private waitReady(timeoutMs: number): Promise<ReadyReply[]> {
    const replies: ReadyReply[] = new Array(this.worldSize);
    let numReady = 0;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TransportError('WORKER_FAILED', `the workers were not ready within ${timeoutMs} ms`)), timeoutMs);
      this.onReady = (rank, reply) => {
        replies[rank] = reply;
        if (++numReady === this.worldSize) {
          clearTimeout(timer);
          resolve(replies);
        }
      };
      this.onStartFailure = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }

  private onReady: ((rank: number, reply: ReadyReply) => void) | undefined;
  private onStartFailure: ((err: TransportError) => void) | undefined;

  private onReply(rank: number, reply: DeviceReply): void {
    if (reply.kind === 'ready') return this.onReady?.(rank, reply);
    if (reply.id < 0) {
      if (reply.kind === 'error') this.onStartFailure?.(new TransportError('WORKER_FAILED', `worker ${rank} failed to start: ${reply.error.message}`));
      return;
    }
    const pending = this.pending[rank]!.get(reply.id);
    if (!pending) return;
    this.pending[rank]!.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.kind === 'result') return pending.resolve({ result: reply.result, elapsedMs: reply.elapsedMs });
    const err = reviveError(reply.error, rank);
    if (err instanceof TransportError) this.deadReason ??= err; // out of step: the worker has closed its transport
    pending.reject(err);
  }

  private onWorkerExit(rank: number, how: string): void {
    const err = new TransportError('WORKER_FAILED', `worker ${rank} ${how}`);
    this.onStartFailure?.(err);
    if (this.isClosing) {
      this.rejectPending(rank, err);
      return;
    }
    this.markDead(rank, err);
  }

  /** The group cannot run together any more: rank's transfers fail on its peers, its commands here. */
  private markDead(rank: number, err: TransportError): void {
    // the root cause wins: a survivor's report of the dead peer (PEER_FAILED) can reach us before
    // the worker's own exit does (sockets), and is replaced by it
    if (!this.deadReason || (this.deadReason.code === 'PEER_FAILED' && err.code === 'WORKER_FAILED')) this.deadReason = err;
    this.segment?.markFailed(rank);
    this.rejectPending(rank, err);
  }

  private rejectPending(rank: number, err: TransportError): void {
    for (const p of this.pending[rank]!.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending[rank]!.clear();
  }
}
