import { POOLING_TYPES, type PoolingType } from '../../engine/embedding-options.js';
import { loadModel } from '../../engine/loaded-model.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { BACKEND_FLAG, backendFlag, defineCommand, numberFlag, parseCommandArgs, THREADS_FLAG, threadsFlag, TOKENIZER_FLAG } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const EMBED_COMMAND = defineCommand({
  name: 'embed',
  synopsis: '[--model PATH] [--pooling mean|last|cls] [options] TEXT...',
  summary:
    'Prints one embedding per TEXT (or per non-empty line of stdin when no TEXT is given): the pooled final hidden ' +
    'state of the model, L2-normalized. json: a JSON array of vectors; text: one line of numbers per input.',
  positionals: true,
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model or Hugging Face directory', default: 'the bundled stories260K' },
    tokenizer: TOKENIZER_FLAG,
    pooling: { type: 'string', arg: 'mean|last|cls', help: "mean of the tokens, the last token's, or the first's", default: "the GGUF's pooling_type, else mean" },
    'no-normalize': { type: 'boolean', help: 'print the pooled vectors as they are, not L2-normalized' },
    format: { type: 'string', arg: 'json|text', help: 'output format', default: 'json' },
    'context-size': { type: 'string', arg: 'N', help: 'context length in tokens: the longest input', default: "the model's, at most 4096" },
    threads: THREADS_FLAG,
    backend: BACKEND_FLAG,
  },
});

const FORMATS = ['json', 'text'] as const;

export async function runEmbed(argv: string[], out: NodeJS.WritableStream, stdin: NodeJS.ReadableStream): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, EMBED_COMMAND);
  // every flag is checked before the model loads
  const pooling = values.pooling as PoolingType | undefined;
  if (pooling !== undefined && !POOLING_TYPES.includes(pooling)) throw new InvalidRequestError('INVALID_ARGUMENT', `--pooling must be one of ${POOLING_TYPES.join(', ')} (got '${pooling}')`);
  const format = (values.format ?? 'json') as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) throw new InvalidRequestError('INVALID_ARGUMENT', `--format must be json or text (got '${format}')`);
  const options = {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: threadsFlag(values.threads),
    backend: backendFlag(values.backend),
    tokenizer: values.tokenizer,
  };
  const texts = positionals.length > 0 ? positionals : (await readAll(stdin)).split('\n').filter((line) => line.trim() !== '');
  if (texts.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', 'no text to embed: give TEXT arguments or lines on stdin');

  const model = await loadModel(values.model ?? DEFAULT_MODEL_PATH, options);
  try {
    const vectors = await model.embed(texts, { pooling, normalize: !values['no-normalize'] });
    if (format === 'json') out.write(JSON.stringify(vectors.map((v) => Array.from(v))) + '\n');
    else for (const v of vectors) out.write(Array.from(v).join(' ') + '\n');
  } finally {
    model.dispose();
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) text += chunk as string;
  return text;
}
