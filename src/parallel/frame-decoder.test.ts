import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { encodeFrame, encodeGoodbye, FrameDecoder } from './frame-decoder.js';

describe('FrameDecoder', () => {
  it('gives back the frames and goodbyes written, however the stream is cut', () => {
    const rng = new Rng(5);
    const payloads = [0, 1, 3, 4, 1000, 9_000, 0, 7].map((n) => Uint8Array.from({ length: n }, () => rng.nextU32() & 0xff));
    const stream = Buffer.concat([...payloads.slice(0, 4).map(encodeFrame), encodeGoodbye(), ...payloads.slice(4).map(encodeFrame)]);
    for (const maxChunk of [1, 3, 5, 4096, stream.byteLength]) {
      const got: (Uint8Array | 'goodbye')[] = [];
      const decoder = new FrameDecoder(
        (frame) => got.push(Uint8Array.from(frame)),
        () => got.push('goodbye'),
      );
      for (let at = 0; at < stream.byteLength; ) {
        const n = 1 + (rng.nextU32() % maxChunk);
        decoder.push(stream.subarray(at, at + n));
        at += n;
      }
      expect(got).toEqual([...payloads.slice(0, 4), 'goodbye', ...payloads.slice(4)]);
      expect(decoder.numPendingBytes).toBe(0);
    }
  });

  it('keeps a partial frame until the rest comes', () => {
    const frames: Buffer[] = [];
    const decoder = new FrameDecoder((f) => frames.push(f));
    const frame = encodeFrame(Uint8Array.from([9, 8, 7]));
    decoder.push(frame.subarray(0, 5));
    expect(frames).toEqual([]);
    expect(decoder.numPendingBytes).toBe(5);
    decoder.push(frame.subarray(5));
    expect(frames.map((f) => [...f])).toEqual([[9, 8, 7]]);
  });
});
