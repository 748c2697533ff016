import { invariant } from '../errors/engine-error.js';
import type { Transport, TransportKind } from './transport.js';
import { TransportError } from './transport-error.js';

/** A message to one peer: the bytes of `data` (a view; the transport copies them out) */
export interface OutgoingMessage {
  readonly to: number;
  readonly bytes: Uint8Array;
}

/** Where the next message from one peer goes: exactly `bytes.byteLength` bytes are expected */
export interface IncomingMessage {
  readonly from: number;
  readonly bytes: Uint8Array;
}

export function bytesOf(data: Float32Array | Uint8Array): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The collectives, written once over one primitive both transports implement: `exchange`, which
 * sends and receives a set of messages at the same time and resolves when all are through (so
 * two ranks that send each other large messages never wait on each other).
 *
 * allReduceSum and allGather send this rank's vector to every peer and receive every peer's:
 * one round of messages, the lowest latency for the small vectors tensor parallelism reduces
 * (a hidden state per token), at worldSize - 1 vectors sent per rank.
 */
export abstract class ExchangeTransport implements Transport {
  abstract readonly kind: TransportKind;
  /** peers' vectors during allReduceSum: [worldSize - 1, n], grown on demand */
  private scratch = new Float32Array(0);
  private isBusy = false;
  protected isClosed = false;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
  ) {
    invariant(Number.isInteger(worldSize) && worldSize >= 1, `worldSize must be a positive integer, got ${worldSize}`);
    invariant(Number.isInteger(rank) && rank >= 0 && rank < worldSize, `rank ${rank} is outside [0, ${worldSize})`);
  }

  /** Sends and receives all of these; per peer, messages go and come in list order. */
  protected abstract exchange(sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]): Promise<void>;

  abstract close(): void;

  send(to: number, data: Float32Array | Uint8Array): Promise<void> {
    this.checkPeer(to);
    return this.run([{ to, bytes: bytesOf(data) }], []);
  }

  recv(from: number, dst: Float32Array | Uint8Array): Promise<void> {
    this.checkPeer(from);
    return this.run([], [{ from, bytes: bytesOf(dst) }]);
  }

  async allReduceSum(x: Float32Array): Promise<void> {
    const n = x.length;
    const numPeers = this.worldSize - 1;
    if (numPeers === 0 || n === 0) return;
    if (this.scratch.length < numPeers * n) this.scratch = new Float32Array(numPeers * n);
    const scratch = this.scratch;
    // the vector of rank r sits at row r of [x₀ … x_{w-1}] with this rank's own row taken by x
    const rowOf = (peer: number): Float32Array => scratch.subarray((peer < this.rank ? peer : peer - 1) * n, (peer < this.rank ? peer + 1 : peer) * n);
    const peers = this.peers();
    await this.run(
      peers.map((to) => ({ to, bytes: bytesOf(x) })),
      peers.map((from) => ({ from, bytes: bytesOf(rowOf(from)) })),
    );
    const rows = Array.from({ length: this.worldSize }, (_, r) => (r === this.rank ? x : rowOf(r)));
    if (this.worldSize === 2) {
      const a = rows[0]!;
      const b = rows[1]!;
      for (let i = 0; i < n; i++) x[i] = a[i]! + b[i]!; // one f32 addition: the double sum rounds to the same f32
      return;
    }
    for (let i = 0; i < n; i++) {
      let sum = rows[0]![i]!;
      for (let r = 1; r < this.worldSize; r++) sum = Math.fround(sum + rows[r]![i]!);
      x[i] = sum;
    }
  }

  async allGather(dst: Float32Array, x: Float32Array): Promise<void> {
    const n = x.length;
    invariant(dst.length === this.worldSize * n, `allGather: dst has ${dst.length} floats, want ${this.worldSize} × ${n}`);
    const peers = this.peers();
    await this.run(
      peers.map((to) => ({ to, bytes: bytesOf(x) })),
      peers.map((from) => ({ from, bytes: bytesOf(dst.subarray(from * n, (from + 1) * n)) })),
    );
    dst.set(x, this.rank * n);
  }

  /**
   * Some of this transport's ranks as a world of their own (a pipeline stage's tensor-parallel
   * group): rank i of the view is ranks[i] here; its collectives involve those ranks only. The
   * view and this transport share one channel per peer and the one-operation-at-a-time rule;
   * closing the view closes this transport.
   */
  subgroup(ranks: readonly number[]): Transport {
    const index = ranks.indexOf(this.rank);
    invariant(index >= 0 && new Set(ranks).size === ranks.length && ranks.every((r) => Number.isInteger(r) && r >= 0 && r < this.worldSize), `rank ${this.rank}: bad subgroup [${ranks.join(', ')}]`);
    return new SubgroupTransport(this.kind, index, ranks.length, (sends, recvs) =>
      this.run(
        sends.map((m) => ({ to: ranks[m.to]!, bytes: m.bytes })),
        recvs.map((m) => ({ from: ranks[m.from]!, bytes: m.bytes })),
      ), () => this.close());
  }

  barrier(): Promise<void> {
    const peers = this.peers();
    const empty = new Uint8Array(0);
    return this.run(
      peers.map((to) => ({ to, bytes: empty })),
      peers.map((from) => ({ from, bytes: empty })),
    );
  }

  private peers(): number[] {
    return Array.from({ length: this.worldSize }, (_, r) => r).filter((r) => r !== this.rank);
  }

  private checkPeer(peer: number): void {
    invariant(Number.isInteger(peer) && peer >= 0 && peer < this.worldSize && peer !== this.rank, `rank ${this.rank}: no peer ${peer} in a world of ${this.worldSize}`);
  }

  private async run(sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]): Promise<void> {
    if (this.isClosed) throw new TransportError('PEER_FAILED', `rank ${this.rank}: the transport is closed`);
    invariant(!this.isBusy, `rank ${this.rank}: one transport operation at a time (await the previous one)`);
    this.isBusy = true;
    try {
      await this.exchange(sends, recvs);
    } finally {
      this.isBusy = false;
    }
  }
}

/** ExchangeTransport.subgroup's view: its exchange is the parent's, ranks mapped. */
class SubgroupTransport extends ExchangeTransport {
  constructor(
    readonly kind: TransportKind,
    rank: number,
    worldSize: number,
    private readonly parentExchange: (sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]) => Promise<void>,
    private readonly closeParent: () => void,
  ) {
    super(rank, worldSize);
  }

  protected exchange(sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]): Promise<void> {
    return this.parentExchange(sends, recvs);
  }

  close(): void {
    this.isClosed = true;
    this.closeParent();
  }
}
