import { validateGenerationOptions } from '../../engine/generation-options.js';
import { loadModel } from '../../engine/loaded-model.js';
import { resolveSamplingParams } from '../../sampling/sampling-params.js';
import { BACKEND_FLAG, backendFlag, defineCommand, KV_CACHE_TYPE_FLAG, kvCacheTypeFlag, matmulPrecisionFlag, numberFlag, PARALLEL_FLAGS, parallelFlags, parseCommandArgs, threadsFlag, TOKENIZER_FLAG } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const GENERATE_COMMAND = defineCommand({
  name: 'generate',
  synopsis: '[--model PATH] [--prompt TEXT] [options]',
  summary: 'Streams the generated text to stdout (diagnostics go to stderr).',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model or Hugging Face directory', default: 'the bundled stories260K' },
    prompt: { type: 'string', arg: 'TEXT', help: 'the text to continue', default: 'empty' },
    'max-tokens': { type: 'string', arg: 'N', help: 'tokens to generate', default: '256' },
    temperature: { type: 'string', arg: 'T', help: '0 = greedy', default: '1' },
    seed: { type: 'string', arg: 'S', help: 'same seed, same text', default: 'random' },
    'top-k': { type: 'string', arg: 'K', help: 'sample among the K most likely tokens; 0 = off', default: '0' },
    'top-p': { type: 'string', arg: 'P', help: 'sample among the most likely tokens whose probabilities sum to P; 1 = off', default: '1' },
    'min-p': { type: 'string', arg: 'P', help: "drop tokens less likely than P × the most likely one's probability", default: '0' },
    'repeat-penalty': { type: 'string', arg: 'R', help: 'repetition penalty on the last 64 tokens, llama.cpp style; 1 = off', default: '1' },
    'presence-penalty': { type: 'string', arg: 'P', help: 'OpenAI presence penalty, -2 to 2', default: '0' },
    'frequency-penalty': { type: 'string', arg: 'F', help: 'OpenAI frequency penalty, -2 to 2', default: '0' },
    stop: { type: 'string', arg: 'TEXT', multiple: true, help: 'stop before TEXT' },
    'context-size': { type: 'string', arg: 'N', help: "context length in tokens, at most the model's trained context", default: "the model's, at most 4096" },
    'ignore-eos': { type: 'boolean', help: 'keep going past end-of-generation tokens' },
    threads: { type: 'string', arg: 'N', help: 'kernel threads (per worker with --tensor-parallel / --pipeline-parallel)', default: 'all cores, divided among the workers' },
    ...PARALLEL_FLAGS,
    backend: BACKEND_FLAG,
    'matmul-precision': {
      type: 'string',
      arg: 'P',
      help: "exact (llama.cpp's Q8_0 arithmetic, bit for bit) or bf16 (AMX or AVX-512-BF16 CPUs: batches of 12+ tokens in bf16; not the same bits)",
      default: 'exact',
    },
    tokenizer: TOKENIZER_FLAG,
    'kv-cache-type': KV_CACHE_TYPE_FLAG,
  },
});

export async function runGenerate(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, GENERATE_COMMAND);
  const path = values.model ?? DEFAULT_MODEL_PATH;
  // every flag is checked before the model loads (a bad --max-tokens was said only after loading)
  const loadOptions = {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: threadsFlag(values.threads),
    backend: backendFlag(values.backend),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']),
    tokenizer: values.tokenizer,
    kvCacheType: kvCacheTypeFlag(values['kv-cache-type']),
    ...parallelFlags(values),
  };
  const generationOptions = {
    maxTokens: numberFlag(values['max-tokens'], '--max-tokens', { integer: true }),
    temperature: numberFlag(values.temperature, '--temperature'),
    seed: numberFlag(values.seed, '--seed', { integer: true }),
    topK: numberFlag(values['top-k'], '--top-k', { integer: true }),
    topP: numberFlag(values['top-p'], '--top-p'),
    minP: numberFlag(values['min-p'], '--min-p'),
    repetitionPenalty: numberFlag(values['repeat-penalty'], '--repeat-penalty'),
    presencePenalty: numberFlag(values['presence-penalty'], '--presence-penalty'),
    frequencyPenalty: numberFlag(values['frequency-penalty'], '--frequency-penalty'),
    stop: values.stop,
    ignoreEos: values['ignore-eos'],
  };
  validateGenerationOptions(generationOptions);
  resolveSamplingParams(generationOptions);
  const loadStart = performance.now();
  const model = await loadModel(path, loadOptions);
  err.write(
    `peregrine: loaded ${model.info.architecture} model ${path} (${model.backendName} kernels) in ${(performance.now() - loadStart).toFixed(0)} ms\n`,
  );

  const start = performance.now();
  let firstTokenAt = 0;
  let usage = { promptTokens: 0, completionTokens: 0 };
  for await (const chunk of model.generate(values.prompt ?? '', generationOptions)) {
    if (!firstTokenAt && chunk.tokenIds.length) firstTokenAt = performance.now();
    if (chunk.text) out.write(chunk.text);
    if (chunk.usage) usage = chunk.usage;
  }
  if (firstTokenAt) out.write('\n'); // nothing at all on stdout when nothing was generated
  await model.close(); // a parallel model's workers stop before the stats line
  const end = performance.now();
  err.write(`peregrine: ${formatStats(usage, start, firstTokenAt, end)}\n`);
}

/**
 * "5 prompt tokens in 26 ms, 20 generated, 310.2 tokens/s". With no token generated (--max-tokens 0)
 * the prompt never ran, so there is no time to give (it printed "in -254 ms").
 */
function formatStats(usage: { promptTokens: number; completionTokens: number }, startMs: number, firstTokenAtMs: number, endMs: number): string {
  if (!firstTokenAtMs) return `${usage.promptTokens} prompt tokens, none generated (--max-tokens 0 runs no model step)`;
  const numDecodeTokens = Math.max(usage.completionTokens - 1, 0);
  return (
    `${usage.promptTokens} prompt tokens in ${(firstTokenAtMs - startMs).toFixed(0)} ms, ${usage.completionTokens} generated` +
    (numDecodeTokens ? `, ${((numDecodeTokens * 1000) / (endMs - firstTokenAtMs)).toFixed(1)} tokens/s` : '')
  );
}
