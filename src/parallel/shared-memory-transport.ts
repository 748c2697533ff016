import { invariant } from '../errors/engine-error.js';
import { ExchangeTransport, type IncomingMessage, type OutgoingMessage } from './exchange-transport.js';
import { RankStatus, SharedMemorySegment, type Ring } from './shared-memory-segment.js';
import { DEFAULT_PEER_TIMEOUT_MS, type TransportTimeouts } from './transport.js';
import { TransportError } from './transport-error.js';

export interface SharedMemoryTransportOptions extends TransportTimeouts {
  /**
   * How long a rank with nothing to do polls the rings before it sleeps on its doorbell (an
   * Atomics.wait, woken by the peer's Atomics.notify: tens of microseconds more). Default 50.
   */
  readonly spinMicros?: number;
}

/** the longest single Atomics.wait: a rank looks at its peers' status at least this often */
const MAX_WAIT_MS = 50;

/** one message on its way through a ring; `done` counts its bytes moved, -4 before its header */
interface Transfer {
  readonly peer: number;
  readonly ring: Ring;
  readonly bytes: Uint8Array;
  done: number;
}

function paddedLength(byteLength: number): number {
  return (byteLength + 3) & ~3;
}

/**
 * The transport between worker threads of one process: per ordered pair of ranks a byte ring in
 * a SharedArrayBuffer (SharedMemorySegment), written by the sender and read by the receiver, each
 * message a 4-byte length and the bytes padded to 4; nothing passes through the main thread.
 * Each copy is one `Uint8Array.set` into or out of the ring (two where it wraps); messages larger
 * than the ring stream through it while both sides run.
 *
 * A rank waits by polling for `spinMicros`, then sleeping on its doorbell with Atomics.wait (at
 * most 50 ms at a time, so a peer marked FAILED or CLOSED is seen within that); the thread
 * blocks while it waits, as a device blocks its stream. Operations therefore complete before
 * their promise is returned.
 */
export class SharedMemoryTransport extends ExchangeTransport {
  readonly kind = 'shared-memory' as const;
  private readonly words: Int32Array;
  private readonly bellIndex: number;
  private readonly peerTimeoutMs: number;
  private readonly spinMs: number;
  /** [worldSize] rings from this rank to each peer, and from each peer to it */
  private readonly outRings: Ring[];
  private readonly inRings: Ring[];
  /** [worldSize] peers with an unfinished earlier message in the list being moved */
  private readonly blocked: Uint8Array;

  /** Attaches rank `rank` to a segment the main thread created, and marks it ALIVE. */
  constructor(
    private readonly segment: SharedMemorySegment,
    rank: number,
    options: SharedMemoryTransportOptions = {},
  ) {
    super(rank, segment.worldSize);
    this.words = segment.words;
    this.bellIndex = segment.bellIndex(rank);
    this.peerTimeoutMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
    this.spinMs = (options.spinMicros ?? 50) / 1000;
    const ranks = Array.from({ length: this.worldSize }, (_, r) => r);
    this.outRings = ranks.map((r) => segment.ring(rank, r));
    this.inRings = ranks.map((r) => segment.ring(r, rank));
    this.blocked = new Uint8Array(this.worldSize);
    segment.setStatus(rank, RankStatus.ALIVE);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.segment.status(this.rank) !== RankStatus.FAILED) this.segment.setStatus(this.rank, RankStatus.CLOSED);
  }

  protected exchange(sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]): Promise<void> {
    try {
      this.exchangeBlocking(
        sends.map((m) => ({ peer: m.to, ring: this.outRings[m.to]!, bytes: m.bytes, done: -4 })),
        recvs.map((m) => ({ peer: m.from, ring: this.inRings[m.from]!, bytes: m.bytes, done: -4 })),
      );
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private exchangeBlocking(sends: Transfer[], recvs: Transfer[]): void {
    let lastProgress = performance.now();
    let idleSince = lastProgress;
    for (;;) {
      // read the doorbell before looking at the rings: a wake-up after this look changes it, so the wait below returns at once
      const bell = Atomics.load(this.words, this.bellIndex);
      const progressed = this.step(sends, recvs);
      if (isComplete(sends) && isComplete(recvs)) return;
      const now = performance.now();
      if (progressed) {
        lastProgress = now;
        idleSince = now;
        continue;
      }
      const gone = this.firstGonePeer(sends, recvs);
      // a peer writes, then closes: what it wrote before its status changed is visible now, so look once more
      if (gone !== undefined && !this.step(sends, recvs)) {
        const status = this.segment.status(gone) === RankStatus.CLOSED ? 'closed its transport' : 'exited or crashed';
        throw new TransportError('PEER_FAILED', `rank ${this.rank}: rank ${gone} ${status}`);
      }
      const stalledMs = now - lastProgress;
      if (stalledMs >= this.peerTimeoutMs) {
        const waitingOn = [...new Set([...sends, ...recvs].filter((t) => t.done < paddedLength(t.bytes.byteLength)).map((t) => t.peer))];
        throw new TransportError('PEER_TIMEOUT', `rank ${this.rank}: no progress from rank ${waitingOn.join(', ')} for ${Math.round(stalledMs)} ms`);
      }
      if (now - idleSince < this.spinMs) continue;
      Atomics.wait(this.words, this.bellIndex, bell, Math.min(MAX_WAIT_MS, this.peerTimeoutMs - stalledMs));
    }
  }

  /** Moves what the rings allow; per peer, messages in list order. Whether anything moved. */
  private step(sends: Transfer[], recvs: Transfer[]): boolean {
    const sent = this.moveEach(sends, (t) => this.write(t));
    const received = this.moveEach(recvs, (t) => this.read(t));
    return sent || received;
  }

  /** `move` on each transfer whose earlier messages to or from the same peer are through */
  private moveEach(transfers: Transfer[], move: (t: Transfer) => boolean): boolean {
    let progressed = false;
    const blocked = this.blocked.fill(0);
    for (const t of transfers) {
      if (blocked[t.peer]) continue;
      if (move(t)) progressed = true;
      if (t.done < paddedLength(t.bytes.byteLength)) blocked[t.peer] = 1;
    }
    return progressed;
  }

  private write(t: Transfer): boolean {
    const { ring, bytes } = t;
    const total = paddedLength(bytes.byteLength);
    if (t.done === total) return false;
    const size = this.segment.ringBytes;
    let head = Atomics.load(this.words, ring.headIndex);
    const tail = Atomics.load(this.words, ring.tailIndex);
    let free = size - ((head - tail) | 0);
    const start = head;
    if (t.done < 0) {
      if (free < 4) return false;
      ring.dataWords[(head & (size - 1)) >>> 2] = bytes.byteLength;
      head = (head + 4) | 0;
      free -= 4;
      t.done = 0;
    }
    const n = Math.min(total - t.done, free);
    if (n > 0) {
      copyIntoRing(ring.data, head & (size - 1), bytes.subarray(t.done, Math.min(t.done + n, bytes.byteLength)));
      head = (head + n) | 0;
      t.done += n;
    }
    if (head === start) return false;
    Atomics.store(this.words, ring.headIndex, head);
    this.segment.wake(t.peer);
    return true;
  }

  private read(t: Transfer): boolean {
    const { ring, bytes } = t;
    const total = paddedLength(bytes.byteLength);
    if (t.done === total) return false;
    const size = this.segment.ringBytes;
    const head = Atomics.load(this.words, ring.headIndex);
    let tail = Atomics.load(this.words, ring.tailIndex);
    let available = (head - tail) | 0;
    const start = tail;
    if (t.done < 0) {
      if (available < 4) return false;
      const byteLength = ring.dataWords[(tail & (size - 1)) >>> 2]!;
      invariant(byteLength === bytes.byteLength, `rank ${this.rank}: rank ${t.peer} sent ${byteLength} bytes where ${bytes.byteLength} were expected`);
      tail = (tail + 4) | 0;
      available -= 4;
      t.done = 0;
    }
    const n = Math.min(total - t.done, available);
    if (n > 0) {
      const end = Math.min(t.done + n, bytes.byteLength);
      if (end > t.done) copyOutOfRing(bytes.subarray(t.done, end), ring.data, tail & (size - 1));
      tail = (tail + n) | 0;
      t.done += n;
    }
    if (tail === start) return false;
    Atomics.store(this.words, ring.tailIndex, tail);
    this.segment.wake(t.peer);
    return true;
  }

  /**
   * a rank that makes this exchange impossible, if any: one that failed (the group is dead, even
   * where this exchange does not need it), or a peer it needs that has closed
   */
  private firstGonePeer(sends: Transfer[], recvs: Transfer[]): number | undefined {
    for (let r = 0; r < this.worldSize; r++) if (r !== this.rank && this.segment.status(r) === RankStatus.FAILED) return r;
    for (const t of [...recvs, ...sends]) {
      if (t.done < paddedLength(t.bytes.byteLength) && this.segment.status(t.peer) === RankStatus.CLOSED) return t.peer;
    }
    return undefined;
  }
}

function isComplete(transfers: readonly Transfer[]): boolean {
  return transfers.every((t) => t.done === paddedLength(t.bytes.byteLength));
}

function copyIntoRing(ring: Uint8Array, position: number, src: Uint8Array): void {
  const first = Math.min(src.byteLength, ring.byteLength - position);
  ring.set(src.subarray(0, first), position);
  if (first < src.byteLength) ring.set(src.subarray(first), 0);
}

function copyOutOfRing(dst: Uint8Array, ring: Uint8Array, position: number): void {
  const first = Math.min(dst.byteLength, ring.byteLength - position);
  dst.set(ring.subarray(position, position + first));
  if (first < dst.byteLength) dst.set(ring.subarray(0, dst.byteLength - first), first);
}
