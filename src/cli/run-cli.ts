import { createRequire } from 'node:module';
import { EngineError, InvalidRequestError } from '../errors/engine-error.js';
import { formatHelp, isHelpRequested, wrap } from './args.js';
import { COMMANDS, type CliStreams } from './commands/index.js';

const USAGE = `Usage: peregrine <command> [options]

Commands:
${COMMANDS.map(({ spec }) => `  peregrine ${spec.name} ${spec.synopsis}\n    ${wrap(spec.summary, 4)}`).join('\n\n')}

'peregrine <command> --help' (or 'peregrine help <command>') lists a command's options;
'peregrine --version' prints the version. With no --model, commands use the bundled stories260K
model.`;

/**
 * `peregrine <argv>` on the given streams, to its exit status: 0, 2 for a bad invocation (an
 * InvalidRequestError), 1 for any other failure. It never rejects: an error is one line on
 * `io.stderr` ("peregrine: error [CODE]: message"; an unexpected one with its stack). main.ts runs
 * it on the process's streams; tests run it in-process on buffers where the process boundary is not
 * what they check (loading the CLI's modules in a new process costs about a second).
 */
export async function runCli(argv: readonly string[], io: CliStreams): Promise<number> {
  try {
    return await dispatch([...argv], io);
  } catch (err: unknown) {
    if (err instanceof EngineError) {
      io.stderr.write(`peregrine: error [${err.code}]: ${err.message}\n`);
      return err instanceof InvalidRequestError ? 2 : 1;
    }
    io.stderr.write(`peregrine: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return 1;
  }
}

async function dispatch(argv: string[], io: CliStreams): Promise<number> {
  const [command, ...rest] = argv;
  const found = COMMANDS.find((c) => c.spec.name === command);
  if (found) {
    if (isHelpRequested(rest, found.spec)) {
      io.stdout.write(formatHelp(found.spec) + '\n');
    } else {
      return (await found.run(rest, io)) ?? 0;
    }
    return 0;
  }
  switch (command) {
    case '--version':
    case '-v':
      io.stdout.write(createRequire(import.meta.url)('../../package.json').version + '\n');
      return 0;
    case 'help': {
      const [topic] = rest;
      if (topic === undefined || topic === '--help' || topic === '-h') break;
      const about = COMMANDS.find((c) => c.spec.name === topic);
      if (!about) return unknownCommand(topic, io);
      io.stdout.write(formatHelp(about.spec) + '\n');
      return 0;
    }
    case undefined:
    case '--help':
    case '-h':
      break;
    default:
      return unknownCommand(command, io);
  }
  io.stdout.write(USAGE + '\n');
  return command === undefined ? 2 : 0;
}

function unknownCommand(command: string, io: CliStreams): number {
  io.stderr.write(`peregrine: unknown command '${command}'\n\n${USAGE}\n`);
  return 2;
}
