import type { Command } from '../args.js';
import { BENCH_COMMAND, runBench } from './bench.js';
import { CHAT_COMMAND, runChat } from './chat.js';
import { EMBED_COMMAND, runEmbed } from './embed.js';
import { EVAL_COMMAND, runEval } from './eval.js';
import { GENERATE_COMMAND, runGenerate } from './generate.js';
import { INFO_COMMAND, runInfo } from './info.js';
import { PLAN_COMMAND, runPlan } from './plan.js';
import { QUANTIZE_COMMAND, runQuantize } from './quantize.js';
import { SERVE_COMMAND, runServe } from './serve.js';
import { TOKENIZE_COMMAND, runTokenize } from './tokenize.js';

export interface CliCommand {
  readonly spec: Command;
  /** resolves to the exit status when it is not 0 (a command that re-ran itself in a child process) */
  readonly run: (argv: string[]) => Promise<number | void> | void;
}

/** Every `peregrine <command>`, in the order `peregrine --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  { spec: GENERATE_COMMAND, run: (argv) => runGenerate(argv, process.stdout, process.stderr) },
  { spec: CHAT_COMMAND, run: (argv) => runChat(argv, process.stdin, process.stdout, process.stderr) },
  { spec: EMBED_COMMAND, run: (argv) => runEmbed(argv, process.stdout, process.stdin) },
  { spec: SERVE_COMMAND, run: (argv) => runServe(argv, process.stderr) },
  { spec: BENCH_COMMAND, run: (argv) => runBench(argv, process.stdout, process.stderr) },
  { spec: EVAL_COMMAND, run: (argv) => runEval(argv, process.stdout, process.stderr) },
  { spec: PLAN_COMMAND, run: (argv) => runPlan(argv, process.stdout, process.stderr) },
  { spec: TOKENIZE_COMMAND, run: (argv) => runTokenize(argv, process.stdout) },
  { spec: INFO_COMMAND, run: (argv) => runInfo(argv, process.stdout) },
  { spec: QUANTIZE_COMMAND, run: (argv) => runQuantize(argv, process.stdout, process.stderr) },
];
