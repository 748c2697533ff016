import { InvalidRequestError } from '../errors/engine-error.js';

/** A rank's state in the segment, as its peers see it */
export enum RankStatus {
  /** spawned, not attached yet */
  STARTING = 0,
  ALIVE = 1,
  /** closed its transport: what it sent can still be read, nothing more will come */
  CLOSED = 2,
  /** exited or crashed (set by the main thread, which watches the workers) */
  FAILED = 3,
}

/** Int32 words per cache line: each word that two threads write sits on a line of its own */
const LINE_WORDS = 16;
const STATUS = 0;
const BELL = 1;
export const DEFAULT_RING_BYTES = 256 * 1024;

/** One direction between two ranks: a byte ring the sender writes and the receiver reads. */
export interface Ring {
  /** index in `words` of the bytes written so far (mod 2³²), advanced by the sender */
  readonly headIndex: number;
  /** index in `words` of the bytes read so far (mod 2³²), advanced by the receiver */
  readonly tailIndex: number;
  /** [ringBytes] the ring's bytes */
  readonly data: Uint8Array;
  /** [ringBytes / 4] the same bytes as words, for the 4-byte message headers */
  readonly dataWords: Int32Array;
}

/**
 * The memory a group of worker threads shares: per rank a status word and a doorbell (a
 * counter its peers bump and Atomics.notify whenever they write to it or make room in a ring it
 * writes; the rank Atomics.waits on it), and per ordered pair of ranks a ring of `ringBytes`.
 * The main thread creates it and passes `buffer` to every worker (no copy: a SharedArrayBuffer),
 * and marks a worker that exits FAILED, which wakes every rank.
 *
 *   control: [worldSize lines: status, bell] [worldSize² pairs: head line, tail line]  Int32
 *   data:    [worldSize² rings of ringBytes]  (pair s→d at s · worldSize + d; s = d unused)
 */
export class SharedMemorySegment {
  /** all control words, Atomics only */
  readonly words: Int32Array;
  private readonly dataOffset: number;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly worldSize: number,
    readonly ringBytes: number,
  ) {
    this.words = new Int32Array(buffer, 0, SharedMemorySegment.controlWords(worldSize));
    this.dataOffset = this.words.byteLength;
    if (buffer.byteLength !== SharedMemorySegment.byteLength(worldSize, ringBytes)) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `shared segment of ${buffer.byteLength} bytes does not fit ${worldSize} ranks with ${ringBytes}-byte rings`);
    }
  }

  /** A zeroed segment (every rank STARTING, every ring empty). ringBytes: a power of two ≥ 64. */
  static create(worldSize: number, ringBytes: number = DEFAULT_RING_BYTES): SharedMemorySegment {
    if (!Number.isInteger(worldSize) || worldSize < 1 || worldSize > 64) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `worldSize must be an integer in [1, 64], got ${worldSize}`);
    }
    // a power of two divides 2³², so byte counters that wrap at 2³² still give ring positions
    if (!Number.isInteger(ringBytes) || ringBytes < 64 || ringBytes > 2 ** 30 || (ringBytes & (ringBytes - 1)) !== 0) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `ringBytes must be a power of two in [64, 2^30], got ${ringBytes}`);
    }
    return new SharedMemorySegment(new SharedArrayBuffer(SharedMemorySegment.byteLength(worldSize, ringBytes)), worldSize, ringBytes);
  }

  static byteLength(worldSize: number, ringBytes: number): number {
    return SharedMemorySegment.controlWords(worldSize) * 4 + worldSize * worldSize * ringBytes;
  }

  private static controlWords(worldSize: number): number {
    return worldSize * LINE_WORDS + worldSize * worldSize * 2 * LINE_WORDS;
  }

  status(rank: number): RankStatus {
    return Atomics.load(this.words, rank * LINE_WORDS + STATUS) as RankStatus;
  }

  /** Sets rank's status and wakes every rank, so that whoever waits on it looks again. */
  setStatus(rank: number, status: RankStatus): void {
    Atomics.store(this.words, rank * LINE_WORDS + STATUS, status);
    for (let r = 0; r < this.worldSize; r++) this.wake(r);
  }

  /** Marks a rank that is gone FAILED, unless it closed cleanly first (what it sent stays readable either way). */
  markFailed(rank: number): void {
    Atomics.compareExchange(this.words, rank * LINE_WORDS + STATUS, RankStatus.STARTING, RankStatus.FAILED);
    Atomics.compareExchange(this.words, rank * LINE_WORDS + STATUS, RankStatus.ALIVE, RankStatus.FAILED);
    for (let r = 0; r < this.worldSize; r++) this.wake(r);
  }

  /** index in `words` of rank's doorbell */
  bellIndex(rank: number): number {
    return rank * LINE_WORDS + BELL;
  }

  /** Wakes `rank` if it waits on its doorbell. */
  wake(rank: number): void {
    const index = this.bellIndex(rank);
    Atomics.add(this.words, index, 1);
    Atomics.notify(this.words, index);
  }

  /** the ring from rank `from` to rank `to` */
  ring(from: number, to: number): Ring {
    const pair = from * this.worldSize + to;
    const base = this.worldSize * LINE_WORDS + pair * 2 * LINE_WORDS;
    const offset = this.dataOffset + pair * this.ringBytes;
    return {
      headIndex: base,
      tailIndex: base + LINE_WORDS,
      data: new Uint8Array(this.buffer, offset, this.ringBytes),
      dataWords: new Int32Array(this.buffer, offset, this.ringBytes / 4),
    };
  }
}
