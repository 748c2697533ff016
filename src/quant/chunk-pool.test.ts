import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { GgmlType } from '../formats/ggml-type.js';
import { readGguf } from '../formats/gguf/index.js';
import { resolveModelShape } from '../testing/model-shapes.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { ChunkPool, convertInOrder } from './chunk-pool.js';
import { convertChunk, tensorChunks, type ChunkJob } from './tensor-chunks.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-chunk-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('convertInOrder', () => {
  it('yields in the jobs order whatever order they finish in, with at most maxInFlight started and not yet yielded', async () => {
    const jobs = Array.from({ length: 7 }, (_, i) => ({ tensorName: `t${i}` }) as ChunkJob);
    const finish: (() => void)[] = [];
    let started = 0;
    let yielded = 0;
    let mostInFlight = 0;
    const convert = (job: ChunkJob): Promise<Uint8Array> => {
      started++;
      mostInFlight = Math.max(mostInFlight, started - yielded);
      return new Promise((resolve) => finish.push(() => resolve(Uint8Array.of(Number(job.tensorName.slice(1))))));
    };
    // finish the newest started chunk first, as a fast worker would
    const finisher = setInterval(() => finish.pop()?.(), 1);
    const order: number[] = [];
    try {
      for await (const { job, bytes } of convertInOrder(jobs, convert, 3)) {
        yielded++;
        order.push(bytes[0]!);
        expect(job.tensorName).toBe(`t${bytes[0]}`);
      }
    } finally {
      clearInterval(finisher);
    }
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(mostInFlight).toBe(3);
  });

  it("throws the first failing chunk's error in its turn, after the chunks before it", async () => {
    const jobs = Array.from({ length: 4 }, (_, i) => ({ tensorName: `t${i}` }) as ChunkJob);
    const convert = (job: ChunkJob): Promise<Uint8Array> =>
      job.tensorName === 't0' ? new Promise((resolve) => setTimeout(() => resolve(new Uint8Array(1)), 20)) : Promise.reject(new Error(job.tensorName));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { job } of convertInOrder(jobs, convert, 4)) seen.push(job.tensorName);
      })(),
    ).rejects.toThrow('t1');
    expect(seen).toEqual(['t0']);
  });
});

describe('ChunkPool', () => {
  const input = join(dir, 'model.gguf');
  writeSyntheticModel(input, { shape: { ...resolveModelShape('tiny'), numLayers: 1 }, weightType: 'F16', seed: 1 });
  const file = readGguf(input);

  it("converts chunks in worker threads to convertChunk's bytes; a chunk's error comes back as the same typed error", async () => {
    const fd = openSync(input, 'r');
    const pool = new ChunkPool(2, fd, 'model.gguf');
    try {
      const jobs = file.tensors.flatMap((t) => [...tensorChunks(t, t.shape.length > 1 ? GgmlType.Q4_K : t.type)]);
      const converted = await Promise.all(jobs.map((job) => pool.convert(job)));
      jobs.forEach((job, i) => expect(Buffer.from(converted[i]!).equals(Buffer.from(convertChunk(job, fd, 'model.gguf'))), job.tensorName).toBe(true));

      const pastEnd: ChunkJob = { ...jobs[0]!, position: file.fileSize - 4 };
      const here = (() => {
        try {
          convertChunk(pastEnd, fd, 'model.gguf');
        } catch (err) {
          return err;
        }
      })();
      expect(here).toBeInstanceOf(ModelLoadError);
      const there = await pool.convert(pastEnd).catch((err: unknown) => err);
      expect(there).toBeInstanceOf(ModelLoadError);
      expect(there).toMatchObject({ code: 'GGUF_TRUNCATED', message: (here as Error).message });
    } finally {
      await pool.close();
      closeSync(fd);
    }
  });

  it('close rejects the chunks not converted yet, and every later one', async () => {
    const fd = openSync(input, 'r');
    const pool = new ChunkPool(1, fd, 'model.gguf');
    try {
      const big = file.tensors.find((t) => t.name === 'token_embd.weight')!;
      const waiting = [...tensorChunks(big, GgmlType.Q6_K)].concat([...tensorChunks(big, GgmlType.Q6_K)]).map((job) => pool.convert(job).catch((err: unknown) => err));
      await pool.close(new Error('closed here'));
      for (const result of await Promise.all(waiting)) expect(result).toEqual(new Error('closed here'));
      await expect(pool.convert([...tensorChunks(big, GgmlType.Q8_0)][0]!)).rejects.toThrow('closed here');
    } finally {
      closeSync(fd);
    }
  });
});
