/** bytes of a frame's length prefix (u32, little-endian) */
export const FRAME_HEADER_BYTES = 4;

/** the length prefix of a goodbye: no payload, the sender will send nothing more (a clean close) */
const GOODBYE = 0xffffffff;

/** The largest payload a frame carries (one less than the goodbye's prefix). */
export const MAX_FRAME_PAYLOAD_BYTES = GOODBYE - 1;

/** A goodbye as written to a stream: the sender closes on purpose (see FrameDecoder's onGoodbye). */
export function encodeGoodbye(): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  frame.writeUInt32LE(GOODBYE, 0);
  return frame;
}

/** One frame as written to a stream: the payload's length (u32 LE), then the payload (copied). */
export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.byteLength > MAX_FRAME_PAYLOAD_BYTES) throw new RangeError(`a frame carries at most ${MAX_FRAME_PAYLOAD_BYTES} bytes, not ${payload.byteLength}`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32LE(payload.byteLength, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Cuts a byte stream, arriving in chunks of any size, back into the length-prefixed frames
 * `encodeFrame` wrote, and goodbyes (`encodeGoodbye`). A frame inside one chunk is a view of it
 * (no copy); one that spans chunks is joined once.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private numBufferedBytes = 0;
  /** the payload length of the frame whose header has been read, or -1 */
  private payloadBytes = -1;

  constructor(
    private readonly onFrame: (payload: Buffer) => void,
    private readonly onGoodbye: () => void = () => {},
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.numBufferedBytes += chunk.byteLength;
    for (;;) {
      if (this.payloadBytes < 0) {
        if (this.numBufferedBytes < FRAME_HEADER_BYTES) return;
        const length = this.take(FRAME_HEADER_BYTES).readUInt32LE(0);
        if (length === GOODBYE) {
          this.onGoodbye();
          continue;
        }
        this.payloadBytes = length;
      }
      if (this.numBufferedBytes < this.payloadBytes) return;
      const payload = this.take(this.payloadBytes);
      this.payloadBytes = -1;
      this.onFrame(payload);
    }
  }

  /** bytes received that do not make a whole frame yet (a read header included) */
  get numPendingBytes(): number {
    return this.numBufferedBytes + (this.payloadBytes < 0 ? 0 : FRAME_HEADER_BYTES);
  }

  /** removes the first n buffered bytes (n ≤ numBufferedBytes): a view when the first chunk holds them, else one copy */
  private take(n: number): Buffer {
    this.numBufferedBytes -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let numWhole = 0; // chunks taken whole, removed at the end in one splice
    while (filled < n) {
      const chunk = this.chunks[numWhole]!;
      const part = Math.min(chunk.byteLength, n - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.byteLength) numWhole++;
      else this.chunks[numWhole] = chunk.subarray(part);
    }
    this.chunks.splice(0, numWhole);
    return out;
  }
}
