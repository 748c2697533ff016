import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { createServingEngine, GgufValueType, InvalidRequestError, loadModel, readGguf, writeGguf } from '../../src/api/index.js';
import { readTensorData } from '../../src/formats/gguf/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';

// engines here share the model and are never shut down (shutdown disposes the model)
// stories260K: the bundled model (a copy of /work/shared/models/stories260K/stories260K.gguf)
const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256 }); // F16 KV, as llama.cpp's default
afterAll(() => model.dispose());

const TEXTS = ['Once upon a time', 'The little dog ran to the park and saw a big red ball.', 'Lily', 'Tom and Sue were friends. They liked to play.'];

function cosine(a: Float32Array, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function norm(a: Float32Array): number {
  return Math.sqrt(a.reduce((s, v) => s + v * v, 0));
}

describe('embeddings against llama.cpp (node-llama-cpp 3.21.1)', () => {
  // node-llama-cpp's getEmbeddingFor tokenizes without specials, prepends BOS (add_bos) and reads
  // llama_get_embeddings_ith(ctx, -1) when the context's pooling is NONE, which it is for a llama
  // GGUF without a pooling_type key (llama_context: UNSPECIFIED → hparams' → NONE): the last
  // token's final hidden state after output_norm (t_embd), not normalized. Ours with pooling
  // 'last', normalize false, must be that vector.
  it("'last' pooling without normalization is llama.cpp's embedding of the same text", async () => {
    const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false, skipDownload: true, logLevel: LlamaLogLevel.error });
    const ref = await llama.loadModel({ modelPath: DEFAULT_MODEL_PATH, gpuLayers: 0 });
    // llama.cpp's defaults (F16 K/V, flash attention) and ours (F16 K/V) round differently: ~2e-3
    // on vectors of length ~17; with our F32 K/V it is ~4e-3
    const ctx = await ref.createEmbeddingContext({ contextSize: 256, threads: 1 });
    try {
      const ours = await model.embed(TEXTS, { pooling: 'last', normalize: false });
      for (const [i, text] of TEXTS.entries()) {
        const theirs = (await ctx.getEmbeddingFor(text)).vector;
        expect(theirs.length).toBe(ours[i]!.length);
        const c = cosine(ours[i]!, theirs);
        const d = maxAbsDiff(ours[i]!, theirs);
        console.log(`llama.cpp parity '${text.slice(0, 20)}': cosine ${c.toFixed(9)}, max abs diff ${d.toExponential(2)} (|v| ${norm(ours[i]!).toFixed(3)})`);
        expect(c).toBeGreaterThan(0.99999);
        expect(d).toBeLessThan(1e-2);
      }
    } finally {
      await ctx.dispose();
      await ref.dispose();
      await llama.dispose();
    }
  });
});

describe('pooling', () => {
  it("'mean' is the mean of every token's hidden state: the 'last' vectors of each prefix, averaged", async () => {
    const ids = model.tokenize(TEXTS[1]!);
    const engine = createServingEngine(model);
    try {
      const prefixes = await engine.embed(
        ids.map((_, i) => ids.slice(0, i + 1)),
        { pooling: 'last', normalize: false },
      );
      const [mean] = await engine.embed([ids], { pooling: 'mean', normalize: false });
      const expected = new Float32Array(mean!.embedding.length);
      for (const p of prefixes) p.embedding.forEach((v, i) => (expected[i]! += v / ids.length));
      expect(maxAbsDiff(mean!.embedding, expected)).toBeLessThan(1e-5);
      expect(mean!.numTokens).toBe(ids.length);
      // the first token's: the one-token prefix's last
      const [cls] = await engine.embed([ids], { pooling: 'cls', normalize: false });
      expect(maxAbsDiff(cls!.embedding, prefixes[0]!.embedding)).toBeLessThan(1e-6);
    } finally {
      expect(engine.stats().numRunning).toBe(0);
    }
  });

  it("defaults to the GGUF's pooling_type when it names one (3 = last), else mean", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-embed-'));
    try {
      const file = readGguf(DEFAULT_MODEL_PATH);
      const data = readTensorData(file, file.tensors);
      const path = join(dir, 'last.gguf');
      const metadata = new Map(file.metadata);
      metadata.set('llama.pooling_type', { type: GgufValueType.UINT32, value: 3 });
      writeGguf(path, { metadata, tensors: file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: data.get(t.name)! })) });
      const lastModel = await loadModel(path, { contextSize: 256 });
      try {
        expect(await lastModel.embed(TEXTS[1]!)).toEqual(await model.embed(TEXTS[1]!, { pooling: 'last' }));
      } finally {
        lastModel.dispose();
      }
      expect(await model.embed(TEXTS[1]!)).toEqual(await model.embed(TEXTS[1]!, { pooling: 'mean' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalizes to unit length by default (mean pooling), the same direction as unnormalized', async () => {
    const v = await model.embed(TEXTS[0]!);
    const raw = await model.embed(TEXTS[0]!, { normalize: false });
    expect(norm(v)).toBeCloseTo(1, 6);
    expect(norm(raw)).not.toBeCloseTo(1, 2);
    expect(cosine(v, raw)).toBeCloseTo(1, 6);
  });

  it('a prompt prefilled in chunks of 5 tokens, batched with others, gives the vectors of one pass', async () => {
    const chunked = createServingEngine(model, { maxNumBatchedTokens: 5, maxNumSeqs: 2 });
    const whole = createServingEngine(model, { maxNumSeqs: 1 });
    try {
      for (const pooling of ['mean', 'last', 'cls'] as const) {
        const a = await chunked.embed(TEXTS, { pooling });
        for (const [i, text] of TEXTS.entries()) {
          const [b] = await whole.embed([text], { pooling });
          expect(maxAbsDiff(a[i]!.embedding, b!.embedding)).toBeLessThan(1e-5);
        }
      }
      expect(chunked.stats().kvCacheUsage).toBe(0); // every block freed
      expect(chunked.stats().numRunning).toBe(0);
    } finally {
      expect(whole.stats().numRunning).toBe(0);
    }
  });

  it('a request preempted for KV blocks mid-prefill starts its pooling over: same vectors', async () => {
    // a 256-token KV cache (16 blocks of 16): a generation growing past ~170 tokens takes the
    // blocks of an embedding of 85 tokens admitted after it (the most recent request is preempted)
    const long = `${TEXTS.join(' ')} ${TEXTS.join(' ')}`;
    const tight = createServingEngine(model, { maxNumBatchedTokens: 8, maxNumSeqs: 4, numKvTokens: 256 });
    const expected = await model.embed(long);
    let embedding: Promise<unknown> | undefined;
    let numChunks = 0;
    for await (const _ of tight.generate(long, { temperature: 0, maxTokens: 150, ignoreEos: true })) {
      if (++numChunks === 75) embedding = tight.embed([long]);
    }
    const [result] = (await embedding) as { embedding: Float32Array }[];
    expect(tight.stats().numPreemptions).toBeGreaterThan(0);
    expect(maxAbsDiff(result!.embedding, expected)).toBeLessThan(1e-5);
  });

  it("'last' pooling starts after a cached prefix (it needs only the last row): the same vector", async () => {
    const long = `${TEXTS.join(' ')} ${TEXTS.join(' ')}`; // 85 tokens: 5 full blocks of 16
    const engine = createServingEngine(model);
    const [first] = await engine.embed([long], { pooling: 'last' });
    const hitsBefore = engine.stats().numPrefixCacheHitTokens;
    const [second] = await engine.embed([long], { pooling: 'last' });
    expect(engine.stats().numPrefixCacheHitTokens - hitsBefore).toBe(80);
    expect(maxAbsDiff(second!.embedding, first!.embedding)).toBeLessThan(1e-6);
    const [mean] = await engine.embed([long], { pooling: 'mean' });
    expect(engine.stats().numPrefixCacheHitTokens - hitsBefore).toBe(80); // mean took none
    expect(maxAbsDiff(mean!.embedding, await model.embed(long, { pooling: 'mean' }))).toBeLessThan(1e-6);
  });

  it('many texts in one call (more than maxNumSeqs, repeated prefixes) each get their own vector', async () => {
    const texts = Array.from({ length: 20 }, (_, i) => `${TEXTS[i % TEXTS.length]} ${i}`);
    const batch = await model.embed(texts);
    expect(batch).toHaveLength(20);
    for (const i of [0, 7, 19]) expect(maxAbsDiff(batch[i]!, await model.embed(texts[i]!))).toBeLessThan(1e-5);
    expect(cosine(batch[0]!, batch[4]!)).toBeLessThan(0.99999); // "... 0" vs "... 4"
  });

  it('runs alongside a generation without changing its greedy output', async () => {
    const engine = createServingEngine(model, { maxNumBatchedTokens: 8 });
    try {
      const alone = await collect(engine.generate('Once upon a time', { temperature: 0, maxTokens: 24 }));
      const [together] = await Promise.all([
        collect(engine.generate('Once upon a time', { temperature: 0, maxTokens: 24 })),
        engine.embed(Array.from({ length: 6 }, (_, i) => `${TEXTS[1]} ${i}`)),
      ]);
      expect(together).toBe(alone);
    } finally {
      expect(engine.stats().numRunning).toBe(0);
    }
  });

  it('refuses bad inputs before running any: too long, empty, out-of-vocabulary, unknown pooling', async () => {
    const tooLong = Array.from({ length: 257 }, () => 5);
    await expect(model.embed(['fine', 'x'.repeat(4000)])).rejects.toMatchObject({ code: 'PROMPT_TOO_LONG' });
    const engine = createServingEngine(model);
    try {
      await expect(engine.embed([tooLong])).rejects.toMatchObject({ code: 'PROMPT_TOO_LONG' });
      // the whole context is allowed: nothing is generated after it
      await expect(engine.embed([tooLong.slice(1)])).resolves.toHaveLength(1);
      await expect(engine.embed([[]])).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(engine.embed([[100_000]])).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
      await expect(engine.embed(['a'], { pooling: 'max' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      expect(engine.stats().numRunning).toBe(0);
    }
  });

  it('an aborted call rejects with the signal reason and frees its blocks', async () => {
    const engine = createServingEngine(model, { maxNumBatchedTokens: 4 });
    try {
      const controller = new AbortController();
      const pending = engine.embed([TEXTS[1]!, TEXTS[3]!], { signal: controller.signal });
      setImmediate(() => controller.abort(new Error('stop it')));
      await expect(pending).rejects.toThrow('stop it');
      await new Promise((r) => setTimeout(r, 20));
      expect(engine.stats().kvCacheUsage).toBe(0);
      expect(engine.stats().numRunning + engine.stats().numWaiting).toBe(0);
    } finally {
      expect(engine.stats().numRunning).toBe(0);
    }
  });
});

async function collect(stream: AsyncGenerator<{ text: string }>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.text;
  return text;
}
