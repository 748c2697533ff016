/**
 * How workers that act as devices (each owning a shard of the model) exchange activations and
 * run collectives. Two implementations behind this one interface, picked by a flag
 * (`TransportKind`); the code above it does not know which:
 * - 'shared-memory' (SharedMemoryTransport): worker threads of one process, a SharedArrayBuffer
 *   with one ring per ordered pair of ranks, Atomics.wait/notify; nothing goes through the main
 *   thread.
 * - 'socket' (SocketTransport): processes on one host, one Unix domain socket per pair of ranks,
 *   length-prefixed frames.
 *
 * Rules for callers:
 * - One operation at a time per rank: await each before starting the next.
 * - Messages between two ranks arrive in the order they were sent; a `recv` must name the exact
 *   size its peer sent (a mismatch is a bug and fails the transport).
 * - Collectives must be called by every rank, in the same order, with the same lengths.
 * - A peer that exits or crashes makes every operation that waits, on any rank, reject with a
 *   TransportError `PEER_FAILED` (the group is dead); a peer that closed its transport fails
 *   the operations that need it, once what it sent before is read; a peer that makes no progress
 *   for `peerTimeoutMs` makes the operations waiting on it reject with `PEER_TIMEOUT`. Nothing
 *   waits forever.
 */
export interface Transport {
  /** this worker's index, 0 ≤ rank < worldSize */
  readonly rank: number;
  readonly worldSize: number;
  /** which implementation this is */
  readonly kind: TransportKind;

  /**
   * Sends `data` to rank `to` (≠ rank). The bytes are copied out before it resolves, so the caller
   * may reuse `data` at once.
   */
  send(to: number, data: Float32Array | Uint8Array): Promise<void>;

  /** Receives rank `from`'s next message into `dst`, which must be exactly the size sent. */
  recv(from: number, dst: Float32Array | Uint8Array): Promise<void>;

  /**
   * In place, x ← Σ over ranks of each rank's x: every rank ends with the same bits, whatever the
   * timing. Each rank receives every other rank's vector and adds them all in rank order,
   * element by element, in f32: ((x₀ + x₁) + x₂) + … . Compared with one worker computing the
   * whole sum (e.g. a matmul over all K columns in one accumulation), a row-parallel matmul
   * followed by this all-reduce sums the same products in another association: each rank
   * accumulates its K/worldSize columns, then the partial sums are added in rank order. The
   * results differ from one worker's by f32 rounding only (about 1e-7 relative), and are the same
   * on every rank and in every run.
   */
  allReduceSum(x: Float32Array): Promise<void>;

  /** dst ← every rank's `x` one after another in rank order; dst.length = worldSize · x.length */
  allGather(dst: Float32Array, x: Float32Array): Promise<void>;

  /**
   * Ranks `ranks` (this one among them) as a world of their own, rank i there being ranks[i]
   * here: collectives over a pipeline stage's tensor-parallel workers. Every rank of the subgroup
   * makes the same call.
   */
  subgroup(ranks: readonly number[]): Transport;

  /** Resolves once every rank has called barrier. */
  barrier(): Promise<void>;

  /**
   * Ends this rank's part: peers waiting for it fail with PEER_FAILED (after reading what it had
   * already sent), and operations here afterwards reject. Idempotent.
   */
  close(): void;
}

export type TransportKind = 'shared-memory' | 'socket';

export const TRANSPORT_KINDS: readonly TransportKind[] = ['shared-memory', 'socket'];

/** Timing options common to both transports. */
export interface TransportTimeouts {
  /**
   * An operation rejects with PEER_TIMEOUT when the peer it waits on has made no progress (sent
   * nothing, taken nothing) for this long. It bounds how long a hung peer can stall the others;
   * it must exceed the longest compute a rank does between two collectives. Default 30000.
   */
  readonly peerTimeoutMs?: number;
}

export const DEFAULT_PEER_TIMEOUT_MS = 30_000;
