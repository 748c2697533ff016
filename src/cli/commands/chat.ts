import { createInterface } from 'node:readline/promises';
import { loadModel } from '../../engine/loaded-model.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { BACKEND_FLAG, backendFlag, defineCommand, numberFlag, parseCommandArgs, THREADS_FLAG, threadsFlag, TOKENIZER_FLAG } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const CHAT_COMMAND = defineCommand({
  name: 'chat',
  synopsis: '[--model PATH] [--system TEXT] [options]',
  summary:
    "Chats with the model through its chat template, keeping the conversation. On a terminal: a prompt loop " +
    '(/reset forgets the conversation, /exit or Ctrl-D leaves). Otherwise: stdin is one message, the answer goes to stdout.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model or Hugging Face directory', default: 'the bundled stories260K' },
    tokenizer: TOKENIZER_FLAG,
    system: { type: 'string', arg: 'TEXT', help: 'the system prompt', default: 'none' },
    'max-tokens': { type: 'string', arg: 'N', help: 'most tokens per answer', default: '256' },
    temperature: { type: 'string', arg: 'T', help: '0 = greedy', default: '1' },
    seed: { type: 'string', arg: 'S', help: 'same seed, same answers', default: 'random' },
    'context-size': { type: 'string', arg: 'N', help: 'context length in tokens: the whole conversation', default: "the model's, at most 4096" },
    threads: THREADS_FLAG,
    backend: BACKEND_FLAG,
  },
});

export async function runChat(argv: string[], stdin: NodeJS.ReadStream, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, CHAT_COMMAND);
  const generation = {
    maxTokens: numberFlag(values['max-tokens'], '--max-tokens', { integer: true }),
    temperature: numberFlag(values.temperature, '--temperature'),
    seed: numberFlag(values.seed, '--seed', { integer: true }),
  };
  const model = await loadModel(values.model ?? DEFAULT_MODEL_PATH, {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: threadsFlag(values.threads),
    backend: backendFlag(values.backend),
    tokenizer: values.tokenizer,
  });
  try {
    const session = model.chat({ systemPrompt: values.system });
    const answer = (text: string): Promise<string> => session.prompt(text, { ...generation, onTextChunk: (chunk) => out.write(chunk) });
    if (!stdin.isTTY) {
      let message = '';
      stdin.setEncoding('utf8');
      for await (const chunk of stdin) message += chunk as string;
      if (message.trim() === '') throw new InvalidRequestError('INVALID_ARGUMENT', 'stdin is empty: nothing to say');
      await answer(message.trim());
      out.write('\n');
      return;
    }
    err.write(`peregrine: chatting with ${model.info.architecture} model ${values.model ?? 'stories260K'}; /reset, /exit\n`);
    const rl = createInterface({ input: stdin, output: out, terminal: true });
    try {
      for (;;) {
        let line: string;
        try {
          line = (await rl.question('> ')).trim();
        } catch {
          break; // Ctrl-D / closed
        }
        if (line === '/exit') break;
        if (line === '/reset') {
          session.reset();
          continue;
        }
        if (line === '') continue;
        try {
          await answer(line);
          out.write('\n');
        } catch (error) {
          err.write(`\nperegrine: ${(error as Error).message}\n`); // e.g. the conversation outgrew the context: /reset
        }
      }
    } finally {
      rl.close();
    }
  } finally {
    model.dispose();
  }
}
