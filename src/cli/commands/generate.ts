import { loadModel } from '../../engine/model.js';
import { backendFlag, matmulPrecisionFlag, numberFlag, parseCommandArgs } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const GENERATE_USAGE = `peregrine generate [--model PATH] [--prompt TEXT] [options]
  Streams the generated text to stdout (diagnostics go to stderr).
  --max-tokens N          tokens to generate (default 256)
  --temperature T         0 = greedy (default 1)
  --seed S                same seed, same text
  --top-k K  --top-p P  --min-p P
  --repeat-penalty R  --presence-penalty P  --frequency-penalty F
  --stop TEXT             stop before TEXT (repeatable)
  --context-size N        context length in tokens
  --ignore-eos            keep going past end-of-generation tokens
  --threads N             kernel threads (default: all cores)
  --backend B             auto (default: native kernels when built), native or reference
  --matmul-precision P    exact (default: llama.cpp's Q8_0 arithmetic, bit for bit) or bf16
                          (AMX CPUs: batches of 12+ tokens on bf16 tiles; faster, not the same bits)`;

export async function runGenerate(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    seed: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    'min-p': { type: 'string' },
    'repeat-penalty': { type: 'string' },
    'presence-penalty': { type: 'string' },
    'frequency-penalty': { type: 'string' },
    stop: { type: 'string', multiple: true },
    'context-size': { type: 'string' },
    'ignore-eos': { type: 'boolean' },
    threads: { type: 'string' },
    backend: { type: 'string' },
    'matmul-precision': { type: 'string' },
  });
  const path = values.model ?? DEFAULT_MODEL_PATH;
  const loadStart = performance.now();
  const model = await loadModel(path, {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: numberFlag(values.threads, '--threads', { integer: true }),
    backend: backendFlag(values.backend),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']),
  });
  err.write(
    `peregrine: loaded ${model.info.architecture} model ${path} (${model.backendName} kernels) in ${(performance.now() - loadStart).toFixed(0)} ms\n`,
  );

  const start = performance.now();
  let firstTokenAt = 0;
  let usage = { promptTokens: 0, completionTokens: 0 };
  for await (const chunk of model.generate(values.prompt ?? '', {
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
  })) {
    if (!firstTokenAt && chunk.tokenIds.length) firstTokenAt = performance.now();
    if (chunk.text) out.write(chunk.text);
    if (chunk.usage) usage = chunk.usage;
  }
  out.write('\n');
  model.dispose();
  const end = performance.now();
  const decodeTokens = Math.max(usage.completionTokens - 1, 0);
  err.write(
    `peregrine: ${usage.promptTokens} prompt tokens in ${(firstTokenAt - start).toFixed(0)} ms, ` +
      `${usage.completionTokens} generated` +
      (decodeTokens ? `, ${((decodeTokens * 1000) / (end - firstTokenAt)).toFixed(1)} tokens/s` : '') +
      '\n',
  );
}
