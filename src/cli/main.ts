#!/usr/bin/env node
import { createRequire } from 'node:module';
import { EngineError, InvalidRequestError } from '../errors/engine-error.js';
import { formatHelp, isHelpRequested, wrap } from './args.js';
import { COMMANDS } from './commands/index.js';

const USAGE = `Usage: peregrine <command> [options]

Commands:
${COMMANDS.map(({ spec }) => `  peregrine ${spec.name} ${spec.synopsis}\n    ${wrap(spec.summary, 4)}`).join('\n\n')}

'peregrine <command> --help' (or 'peregrine help <command>') lists a command's options;
'peregrine --version' prints the version. With no --model, commands use the bundled stories260K
model.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const found = COMMANDS.find((c) => c.spec.name === command);
  if (found) {
    if (isHelpRequested(rest, found.spec)) {
      process.stdout.write(formatHelp(found.spec) + '\n');
    } else {
      return (await found.run(rest)) ?? 0;
    }
    return 0;
  }
  switch (command) {
    case '--version':
    case '-v':
      process.stdout.write(createRequire(import.meta.url)('../../package.json').version + '\n');
      return 0;
    case 'help': {
      const [topic] = rest;
      if (topic === undefined || topic === '--help' || topic === '-h') break;
      const about = COMMANDS.find((c) => c.spec.name === topic);
      if (!about) return unknownCommand(topic);
      process.stdout.write(formatHelp(about.spec) + '\n');
      return 0;
    }
    case undefined:
    case '--help':
    case '-h':
      break;
    default:
      return unknownCommand(command);
  }
  process.stdout.write(USAGE + '\n');
  return command === undefined ? 2 : 0;
}

function unknownCommand(command: string): number {
  process.stderr.write(`peregrine: unknown command '${command}'\n\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof EngineError) {
      process.stderr.write(`peregrine: error [${err.code}]: ${err.message}\n`);
      process.exitCode = err instanceof InvalidRequestError ? 2 : 1;
    } else {
      process.stderr.write(`peregrine: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
