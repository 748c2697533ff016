import { describe, expect, it } from 'vitest';
import { WeightArena } from './weight-arena.js';

describe('WeightArena', () => {
  it('lays matrices one after another at 4 KiB boundaries in a mapping, a new one when the next does not fit, its own for a bigger one', () => {
    const mappings: ArrayBuffer[] = [];
    const arena = new WeightArena((bytes) => {
      mappings.push(new ArrayBuffer(bytes));
      return mappings.at(-1)!;
    }, 64 * 1024);
    const a = arena.take(5000);
    const b = arena.take(100);
    const c = arena.take(60 * 1024); // 12 KiB used: does not fit in the rest
    const big = arena.take(100 * 1024);
    expect([a, b].map((v) => [mappings.indexOf(v.buffer as ArrayBuffer), v.byteOffset, v.length])).toEqual([
      [0, 0, 5000],
      [0, 8192, 100],
    ]);
    expect([c, big].map((v) => [mappings.indexOf(v.buffer as ArrayBuffer), v.byteOffset, v.length])).toEqual([
      [1, 0, 60 * 1024],
      [2, 0, 100 * 1024],
    ]);
    expect(mappings.map((m) => m.byteLength)).toEqual([64 * 1024, 64 * 1024, 100 * 1024]);
  });

  it('reserve makes the next mapping now, at least the size asked, and the next matrices go into it from its start', () => {
    const mappings: ArrayBuffer[] = [];
    const arena = new WeightArena((bytes) => {
      mappings.push(new ArrayBuffer(bytes));
      return mappings.at(-1)!;
    }, 64 * 1024);
    arena.take(5000);
    const reserved = arena.reserve(100 * 1024);
    expect([mappings.indexOf(reserved.buffer as ArrayBuffer), reserved.byteOffset, reserved.length]).toEqual([1, 0, 100 * 1024]);
    const a = arena.take(90 * 1024);
    const b = arena.take(8 * 1024);
    const c = arena.take(8 * 1024); // past the mapping's end
    expect([a, b, c].map((v) => [mappings.indexOf(v.buffer as ArrayBuffer), v.byteOffset])).toEqual([
      [1, 0],
      [1, 92 * 1024],
      [2, 0],
    ]);
    expect(mappings.map((m) => m.byteLength)).toEqual([64 * 1024, 100 * 1024, 64 * 1024]);
    expect(arena.reserve(1000).buffer.byteLength).toBe(64 * 1024); // a chunk at least
  });
});
