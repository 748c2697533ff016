#!/usr/bin/env node
import { createRequire } from 'node:module';
import { EngineError, InvalidRequestError } from '../errors/engine-error.js';
import { BENCH_USAGE, runBench } from './commands/bench.js';
import { GENERATE_USAGE, runGenerate } from './commands/generate.js';
import { INFO_USAGE, runInfo } from './commands/info.js';
import { SERVE_USAGE, runServe } from './commands/serve.js';
import { TOKENIZE_USAGE, runTokenize } from './commands/tokenize.js';

const USAGE = `Usage: peregrine <command> [options]

Commands:
${[GENERATE_USAGE, SERVE_USAGE, BENCH_USAGE, TOKENIZE_USAGE, INFO_USAGE].map((u) => '  ' + u.replace(/\n/g, '\n  ')).join('\n\n')}

With no --model, commands use the bundled stories260K model.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'generate':
      await runGenerate(rest, process.stdout, process.stderr);
      return 0;
    case 'serve':
      await runServe(rest, process.stderr);
      return 0;
    case 'bench':
      await runBench(rest, process.stdout, process.stderr);
      return 0;
    case 'tokenize':
      runTokenize(rest, process.stdout);
      return 0;
    case 'info':
      runInfo(rest, process.stdout);
      return 0;
    case '--version':
    case '-v':
      process.stdout.write(createRequire(import.meta.url)('../../package.json').version + '\n');
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`peregrine: unknown command '${command}'\n\n${USAGE}\n`);
      return 2;
  }
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
