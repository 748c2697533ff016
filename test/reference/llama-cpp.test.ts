import {existsSync} from "node:fs";
import {dirname, resolve} from "node:path";
import {fileURLToPath} from "node:url";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {openLlamaCpp, type LlamaCppReference} from "./llama-cpp.js";

// ../shared (next to the project root) holds the test models; see ../shared/models/README.md.
const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MODEL = resolve(projectRoot, "../shared/models/stories260K/stories260K.gguf");
const haveModel = existsSync(MODEL);
if (!haveModel) console.warn(`[llama-cpp reference] skipping: ${MODEL} not found (../shared is absent)`);

const BOS = 1;
const STORY = "Once upon a time, there was a little girl named Lily.";

function logSoftmax(logits: Float32Array): Float64Array {
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    for (const v of logits) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    return Float64Array.from(logits, (v) => v - lse);
}

function argmax(values: ArrayLike<number>): number {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
    return best;
}

describe.skipIf(!haveModel)("llama.cpp reference (node-llama-cpp) on stories260K", () => {
    let ref: LlamaCppReference;

    beforeAll(async () => {
        ref = await openLlamaCpp(MODEL, {threads: 1, contextSize: 256});
    }, 60_000);

    afterAll(async () => {
        await ref?.dispose();
    });

    it("tokenizes like llama.cpp", () => {
        expect(ref.vocabSize).toBe(512);
        expect(ref.bos).toBe(BOS);
        const tokens = ref.tokenize(STORY, {addSpecial: true});
        expect(tokens[0]).toBe(BOS);
        expect(ref.tokenize(STORY)).toEqual(tokens.slice(1));
        expect(ref.detokenize(tokens.slice(1))).toBe(STORY);
    });

    it("greedy from BOS writes the known story", async () => {
        const out = await ref.greedy([BOS], 40);
        expect(out).toHaveLength(40);
        expect(ref.detokenize(out).startsWith(STORY)).toBe(true);
    }, 60_000);

    it("returns vocab-sized raw logits that agree with greedy decoding and log-probabilities", async () => {
        const prompt = ref.tokenize("Once upon a time, there was", {addSpecial: true});
        const logits = await ref.logits(prompt);
        expect(logits).toHaveLength(prompt.length);
        for (const row of logits) {
            expect(row).toBeInstanceOf(Float32Array);
            expect(row).toHaveLength(ref.vocabSize);
            expect(row.every(Number.isFinite)).toBe(true);
        }
        // Teacher forcing: the argmax after each prefix of the greedy story is the next story token.
        const story = [BOS, ...(await ref.greedy([BOS], 12))];
        const storyLogits = await ref.logits(story);
        for (let i = 0; i + 1 < story.length; i++) expect(argmax(storyLogits[i]!)).toBe(story[i + 1]);

        // Raw logits are not shift-normalised: log_softmax(logits) must equal the log-probabilities.
        const [last] = await ref.logits(prompt, {positions: "last"});
        const [logProbs] = await ref.logProbs(prompt, {positions: "last"});
        // Not bitwise equal: with one output row llama.cpp's lm_head matmul takes the vec_dot path
        // instead of the batched (llamafile sgemm) path.
        const full = logits[logits.length - 1]!;
        let rowDiff = 0;
        for (let i = 0; i < full.length; i++) rowDiff = Math.max(rowDiff, Math.abs(full[i]! - last![i]!));
        expect(rowDiff).toBeLessThan(1e-4);
        const fromLogits = logSoftmax(last!);
        let maxDiff = 0;
        for (let i = 0; i < fromLogits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fromLogits[i]! - logProbs![i]!));
        expect(maxDiff).toBeLessThan(1e-5);
        // The recovered offset is real: logits are not all <= 0 as log-probabilities would be.
        expect(Math.max(...last!)).toBeGreaterThan(0);
    }, 60_000);

    it("can run the pure-F32 configuration (F32 KV cache, no flash attention)", async () => {
        const f32 = await openLlamaCpp(MODEL, {threads: 1, contextSize: 256, flashAttention: false, kvCacheKeyType: "F32", kvCacheValueType: "F32"});
        try {
            expect(f32.context.kvCacheKeyType).toBe(0); // GgmlType.F32
            expect(f32.context.flashAttention).toBe(false);
            const prompt = ref.tokenize(STORY, {addSpecial: true});
            const [a] = await f32.logits(prompt, {positions: "last"});
            const [b] = await ref.logits(prompt, {positions: "last"});
            let maxDiff = 0;
            let maxAbs = 0;
            for (let i = 0; i < a!.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(a![i]! - b![i]!));
                maxAbs = Math.max(maxAbs, Math.abs(a![i]!));
            }
            // F16 KV + flash attention (the defaults) differ from pure F32 at the ~1e-3 relative level.
            expect(maxDiff / maxAbs).toBeLessThan(1e-2);
        } finally {
            await f32.dispose();
        }
    }, 60_000);
});
