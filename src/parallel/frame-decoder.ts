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

  constructor(
    private readonly onFrame: (payload: Buffer) => void,
    private readonly onGoodbye: () => void = () => {},
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.numBufferedBytes += chunk.byteLength;
    for (;;) {
      if (this.numBufferedBytes < FRAME_HEADER_BYTES) return;
      const length = this.joinedPrefix(FRAME_HEADER_BYTES).readUInt32LE(0);
      if (length === GOODBYE) {
        this.consume(FRAME_HEADER_BYTES);
        this.onGoodbye();
        continue;
      }
      const frameBytes = FRAME_HEADER_BYTES + length;
      if (this.numBufferedBytes < frameBytes) return;
      const frame = this.joinedPrefix(frameBytes);
      this.consume(frameBytes);
      this.onFrame(frame.subarray(FRAME_HEADER_BYTES));
    }
  }

  /** bytes received that do not make a whole frame yet */
  get numPendingBytes(): number {
    return this.numBufferedBytes;
  }

  /** the first n buffered bytes as one buffer (a view when the first chunk holds them) */
  private joinedPrefix(n: number): Buffer {
    if (this.chunks[0]!.byteLength < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private consume(n: number): void {
    const first = this.chunks[0]!;
    if (first.byteLength === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.numBufferedBytes -= n;
  }
}
