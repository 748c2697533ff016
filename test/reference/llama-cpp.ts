/**
 * Reference harness around llama.cpp (through the `node-llama-cpp` devDependency), for tests and
 * benchmarks that check Peregrine against llama.cpp.
 *
 * - CPU only (`gpu: false`), prebuilt binaries only (never builds), log level `error`.
 * - `threads` is passed as a plain number and really used (the Llama instance is created with
 *   `maxThreads: 0`, so node-llama-cpp's thread splitter never lowers it).
 * - Greedy decoding uses node-llama-cpp's greedy sampler alone (temperature 0): no repetition
 *   penalty, no DRY, no XTC, no token bias, no grammar.
 *
 * Raw logits: node-llama-cpp 3.21.1 has no API that returns `llama_get_logits_ith()` directly.
 * The closest public API is `LlamaContextSequence.controlledEvaluate(..., {generateNext:
 * {probabilities: true}})`, which returns `softmax(logits)` computed in float32 by the addon
 * (AddonContextSampleTokenWorker: `expf(logit - max) / sum`). `ln(p)` gives the logits up to one
 * unknown additive constant per position. The constant is recovered exactly with a second
 * evaluation in which the repeat-penalty sampler (the only non-shift-invariant sampler in
 * llama.cpp: `logit <= 0 ? logit * penalty : logit / penalty`) is applied to two chosen tokens;
 * comparing the two distributions gives those tokens' absolute logits. Checked against
 * `llama_get_logits_ith()` from the same libllama binaries: max abs error ~3e-6 on stories260K
 * (logits up to ~22, i.e. ~1.3e-7 relative) and ~3e-7 on tiny-random (32k vocab); the error is the
 * float32 rounding of the addon's softmax. Tokens whose probability underflows float32 (logit more
 * than ~87 below the maximum) cannot be recovered and come back as NaN. Cost: two evaluations.
 *
 * Numerics to keep in mind when comparing (llama.cpp bundled by node-llama-cpp 3.21.1, CPU):
 * - Defaults (flashAttention "auto" = ON on CPU, F16 K/V cache) round Q, K, V (and, without flash
 *   attention, the softmax probabilities) to F16; they differ from a pure-F32 forward pass by ~1e-3
 *   relative. For tight comparisons use `{flashAttention: false, kvCacheKeyType: "F32",
 *   kvCacheValueType: "F32"}`, which is an all-F32 path (with flash attention llama.cpp casts even an
 *   F32 cache to F16).
 * - With flash attention, a single-token ubatch (greedy decoding) over >= 512 KV cells splits the KV
 *   range across threads, so those results depend on `threads`.
 */
import {availableParallelism} from "node:os";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import type {ControlledEvaluateInputItem, Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token} from "node-llama-cpp";

/** ggml type names accepted for the KV cache (node-llama-cpp's `GgmlType` keys). */
export type KvCacheType = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1";

export interface LlamaCppOptions {
    /** CPU threads for llama.cpp (prompt and generation). Default: min(4, availableParallelism()). */
    threads?: number;
    /** KV cache size in tokens. Default: min(2048, the model's training context). */
    contextSize?: number;
    /**
     * Flash attention. `true`/`false` force it; `"auto"` (the default, as in node-llama-cpp and
     * llama.cpp) resolves to ON on the CPU backend for supported K/V types.
     */
    flashAttention?: boolean | "auto";
    /** Largest number of tokens per llama_decode (= n_batch = n_ubatch). Default: min(512, contextSize). */
    batchSize?: number;
    /** KV cache K type (node-llama-cpp `experimentalKvCacheKeyType`). llama.cpp default: F16. */
    kvCacheKeyType?: KvCacheType;
    /** KV cache V type (node-llama-cpp `experimentalKvCacheValueType`). llama.cpp default: F16. */
    kvCacheValueType?: KvCacheType;
    /**
     * A binding from `loadLlamaCpp()` to share between references (loading one costs about a second,
     * as much as a tiny model's whole comparison); the reference's `dispose()` then leaves it loaded.
     * Default: a binding of the reference's own, disposed with it.
     */
    llama?: Llama;
}

export interface TokenizeOptions {
    /** Add the model's special tokens (BOS / EOS per the GGUF's add_bos_token / add_eos_token), like llama_tokenize(add_special). */
    addSpecial?: boolean;
    /** Parse special-token text such as "<s>" into special tokens, like llama_tokenize(parse_special). */
    parseSpecial?: boolean;
}

export interface GreedyOptions {
    /** Stop (without returning it) at an end-of-generation token. Default: false, EOS is returned and generation goes on. */
    stopAtEog?: boolean;
}

export interface LogitsOptions {
    /**
     * Which positions to return: "all" (default), "last", or explicit indexes into `tokens`
     * (ascending). Every returned position costs a vocab-sized Map inside node-llama-cpp, twice, so
     * with a large vocabulary ask only for the positions you need.
     */
    positions?: "all" | "last" | readonly number[];
}

export interface LlamaCppReference {
    readonly llama: Llama;
    readonly model: LlamaModel;
    readonly context: LlamaContext;
    readonly sequence: LlamaContextSequence;
    readonly vocabSize: number;
    readonly bos: number | null;
    readonly eos: number | null;
    readonly threads: number;
    readonly contextSize: number;
    tokenize(text: string, options?: TokenizeOptions): number[];
    detokenize(tokens: readonly number[], options?: {special?: boolean}): string;
    /** Greedy continuation of `tokens` (evaluated from an empty KV cache): exactly `numTokens` new tokens unless `stopAtEog`. */
    greedy(tokens: readonly number[], numTokens: number, options?: GreedyOptions): Promise<number[]>;
    /**
     * Raw logits (length vocabSize) after each position of `tokens`, evaluated from an empty KV
     * cache in batches of `batchSize`. Index i holds the logits predicting token i + 1
     * (with positions "last", a single entry for the last token; with an index list, one entry per index).
     */
    logits(tokens: readonly number[], options?: LogitsOptions): Promise<Float32Array[]>;
    /** log_softmax(logits) per position, from a single evaluation (exact up to float32 rounding, no shift recovery). */
    logProbs(tokens: readonly number[], options?: LogitsOptions): Promise<Float64Array[]>;
    dispose(): Promise<void>;
}

const PENALTY = 2;
/** Probabilities below this are too close to float32 underflow to give a usable log. */
const MIN_PROB = 1e-30;

/** The llama.cpp binding as every reference loads it: CPU, prebuilt, errors logged only, threads as asked. */
export function loadLlamaCpp(): Promise<Llama> {
    return getLlama({
        gpu: false,
        build: "never",
        usePrebuiltBinaries: true,
        progressLogs: false,
        skipDownload: true,
        logLevel: LlamaLogLevel.error,
        maxThreads: 0,
    });
}

export async function openLlamaCpp(modelPath: string, options: LlamaCppOptions = {}): Promise<LlamaCppReference> {
    const threads = Math.max(1, Math.floor(options.threads ?? Math.min(4, availableParallelism())));
    const ownsLlama = options.llama === undefined;
    const llama = options.llama ?? await loadLlamaCpp();
    let model: LlamaModel | undefined;
    try {
        model = await llama.loadModel({modelPath, gpuLayers: 0});
        const contextSize = options.contextSize ?? Math.min(2048, model.trainContextSize);
        const batchSize = options.batchSize ?? Math.min(512, contextSize);
        const context = await model.createContext({
            contextSize,
            batchSize,
            sequences: 1,
            threads,
            flashAttention: options.flashAttention ?? "auto",
            ...(options.kvCacheKeyType !== undefined ? {experimentalKvCacheKeyType: options.kvCacheKeyType} : {}),
            ...(options.kvCacheValueType !== undefined ? {experimentalKvCacheValueType: options.kvCacheValueType} : {}),
        });
        return new Reference(llama, model, context, threads, ownsLlama);
    } catch (error) {
        await model?.dispose();
        if (ownsLlama) await llama.dispose();
        throw error;
    }
}

type ProbabilityRun = Array<Map<Token, number>>;

class Reference implements LlamaCppReference {
    readonly sequence: LlamaContextSequence;
    readonly vocabSize: number;
    readonly bos: number | null;
    readonly eos: number | null;
    readonly contextSize: number;

    constructor(
        readonly llama: Llama,
        readonly model: LlamaModel,
        readonly context: LlamaContext,
        readonly threads: number,
        /** dispose() disposes the binding too (it was not passed in) */
        private readonly ownsLlama: boolean,
    ) {
        this.sequence = context.getSequence();
        // = llama_vocab_n_tokens(): the GGUF's tokenizer.ggml.tokens array (checked against every probability run).
        const vocab: unknown = (model.fileInfo.metadata as {tokenizer?: {ggml?: {tokens?: unknown}}}).tokenizer?.ggml?.tokens;
        if (!Array.isArray(vocab)) throw new Error("llama.cpp reference: the GGUF has no tokenizer.ggml.tokens");
        this.vocabSize = vocab.length;
        this.bos = model.tokens.bos;
        this.eos = model.tokens.eos;
        this.contextSize = context.contextSize;
    }

    tokenize(text: string, options: TokenizeOptions = {}): number[] {
        const tokens: number[] = this.model.tokenize(text, options.parseSpecial ?? false);
        if (options.addSpecial) {
            if (this.model.tokens.shouldPrependBosToken && this.bos !== null) tokens.unshift(this.bos);
            if (this.model.tokens.shouldAppendEosToken && this.eos !== null) tokens.push(this.eos);
        }
        return tokens;
    }

    detokenize(tokens: readonly number[], options: {special?: boolean} = {}): string {
        return this.model.detokenize(tokens as Token[], options.special ?? false);
    }

    async greedy(tokens: readonly number[], numTokens: number, options: GreedyOptions = {}): Promise<number[]> {
        this.checkLength(tokens, numTokens);
        const out: number[] = [];
        if (numTokens <= 0) return out;
        await this.sequence.clearHistory();
        // temperature 0 => llama_sampler_init_greedy() only; no penalties/bias/grammar are configured.
        const it = this.sequence.evaluate(tokens as Token[], {temperature: 0, yieldEogToken: !options.stopAtEog});
        for await (const token of it) {
            out.push(token);
            if (out.length >= numTokens) break;
        }
        return out;
    }

    async logProbs(tokens: readonly number[], options: LogitsOptions = {}): Promise<Float64Array[]> {
        const positions = this.positions(tokens, options);
        const run = await this.probabilityRun(tokens, positions, () => undefined);
        return run.map((probs) => this.logOf(probs));
    }

    async logits(tokens: readonly number[], options: LogitsOptions = {}): Promise<Float32Array[]> {
        const positions = this.positions(tokens, options);
        const runA = await this.probabilityRun(tokens, positions, () => undefined);
        const logA = runA.map((probs) => this.logOf(probs));
        // Two tokens per position get the repeat penalty: the most likely one and one near the median.
        const chosen = logA.map((r) => pickTokens(r));
        const runB = await this.probabilityRun(tokens, positions, (k) => chosen[k]);
        return logA.map((r, k) => recoverLogits(r, this.logOf(runB[k]!), chosen[k]!));
    }

    async dispose(): Promise<void> {
        await this.context.dispose();
        await this.model.dispose();
        if (this.ownsLlama) await this.llama.dispose();
    }

    private positions(tokens: readonly number[], options: LogitsOptions): number[] {
        this.checkLength(tokens, 0);
        if (tokens.length === 0) throw new Error("logits: no tokens");
        const positions = options.positions ?? "all";
        if (positions === "last") return [tokens.length - 1];
        if (positions === "all") return tokens.map((_, i) => i);
        positions.forEach((pos, k) => {
            if (!Number.isInteger(pos) || pos < 0 || pos >= tokens.length || (k > 0 && pos <= positions[k - 1]!)) {
                throw new Error(`logits: bad position list (${positions.join(", ")}) for ${tokens.length} tokens`);
            }
        });
        return [...positions];
    }

    private checkLength(tokens: readonly number[], extra: number): void {
        if (tokens.length + extra > this.contextSize) {
            throw new Error(`llama.cpp reference: ${tokens.length} + ${extra} tokens exceed the context size ${this.contextSize}`);
        }
    }

    private logOf(probs: Map<Token, number>): Float64Array {
        const r = new Float64Array(this.vocabSize).fill(Number.NaN);
        for (const [token, p] of probs) r[token] = p >= MIN_PROB ? Math.log(p) : Number.NaN;
        return r;
    }

    /** One evaluation from an empty KV cache; for each wanted position, softmax(logits) after the sampler chain. */
    private async probabilityRun(
        tokens: readonly number[],
        positions: number[],
        punish: (k: number) => readonly [number, number] | undefined,
    ): Promise<ProbabilityRun> {
        await this.sequence.clearHistory();
        const wanted = new Map(positions.map((pos, k) => [pos, k]));
        const input = tokens.map((token, pos): ControlledEvaluateInputItem => {
            const k = wanted.get(pos);
            if (k === undefined) return token as Token;
            const punished = punish(k);
            return [token as Token, {
                generateNext: {
                    probabilities: true,
                    options: punished === undefined
                        ? {temperature: 0}
                        : {temperature: 0, repeatPenalty: {punishTokens: [...punished] as Token[], maxPunishTokens: 2, penalty: PENALTY}},
                },
            }];
        });
        const out = await this.sequence.controlledEvaluate(input);
        return positions.map((pos) => {
            const probs = out[pos]?.next.probabilities;
            if (probs === undefined) throw new Error(`llama.cpp reference: no probabilities for position ${pos}`);
            if (probs.size !== this.vocabSize) throw new Error(`llama.cpp reference: ${probs.size} probabilities, vocab ${this.vocabSize}`);
            return probs;
        });
    }
}

function pickTokens(r: Float64Array): [number, number] {
    let top = -1;
    const finite: number[] = [];
    for (let i = 0; i < r.length; i++) {
        const v = r[i]!;
        if (Number.isNaN(v)) continue;
        finite.push(i);
        if (top < 0 || v > r[top]!) top = i;
    }
    if (finite.length < 3) throw new Error("llama.cpp reference: too few tokens with non-zero probability to recover logits");
    finite.sort((a, b) => r[a]! - r[b]!);
    let mid = finite[finite.length >> 1]!;
    if (mid === top) mid = finite[(finite.length >> 1) - 1]!;
    return [top, mid];
}

/**
 * r = ln softmax(l) (run A) and q = ln softmax(l') (run B), where l' = l except for the two
 * punished tokens: l'_k = l_k <= 0 ? 2 l_k : l_k / 2. For unpunished j, q_j - r_j = s is the same
 * constant; for a punished token, delta = q_k - r_k - s = l'_k - l_k, which is -l_k/2 if l_k > 0 and
 * l_k if l_k <= 0. Each punished token gives two candidates for the shift c = l - r; the consistent
 * pair (the argmax token's logit is >= the other one's) is the answer.
 */
function recoverLogits(r: Float64Array, q: Float64Array, [k1, k2]: readonly [number, number]): Float32Array {
    const diffs: number[] = [];
    let sRef = Number.NaN;
    let best = -Infinity;
    for (let j = 0; j < r.length; j++) {
        if (j === k1 || j === k2) continue;
        const d = q[j]! - r[j]!;
        if (Number.isNaN(d)) continue;
        diffs.push(d);
        if (r[j]! > best) { best = r[j]!; sRef = d; } // the most probable unpunished token has the most precise log
    }
    if (diffs.length === 0) throw new Error("llama.cpp reference: no reference tokens");
    diffs.sort((a, b) => a - b);
    const median = diffs[diffs.length >> 1]!;
    const spread = Math.max(Math.abs(diffs[0]! - median), Math.abs(diffs[diffs.length - 1]! - median));
    if (spread > 1e-3) throw new Error(`llama.cpp reference: unpunished tokens moved by ${spread}; repeat penalty hit more tokens than expected`);
    const s = sRef;
    const cands = (k: number): Array<{c: number; positive: boolean}> => {
        const delta = q[k]! - r[k]! - s;
        if (Number.isNaN(delta)) return [];
        const lPos = -delta * PENALTY / (PENALTY - 1); // l > 0: l' = l / P
        const lNeg = delta / (PENALTY - 1); // l <= 0: l' = l * P
        const out: Array<{c: number; positive: boolean}> = [];
        if (lPos > 0) out.push({c: lPos - r[k]!, positive: true});
        if (lNeg <= 0) out.push({c: lNeg - r[k]!, positive: false});
        return out;
    };
    const c1 = cands(k1);
    const c2 = cands(k2);
    let c = Number.NaN;
    let err = Infinity;
    for (const a of c1) {
        for (const b of c2) {
            if (!a.positive && b.positive) continue; // l1 >= l2
            const e = Math.abs(a.c - b.c);
            if (e < err) { err = e; c = a.c; }
        }
    }
    const scale = Math.max(1, Math.abs(c));
    if (!(err <= 1e-3 * scale)) throw new Error(`llama.cpp reference: could not recover the logit offset (mismatch ${err})`);
    const out = new Float32Array(r.length);
    for (let i = 0; i < r.length; i++) out[i] = r[i]! + c;
    return out;
}
