import type { Command } from '../args.js';
import type { ProgressStream } from '../progress-bar.js';
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

/** What a command reads and writes: the process's own streams in `peregrine`, buffers in tests. */
export interface CliStreams {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WritableStream & ProgressStream;
  readonly stderr: NodeJS.WritableStream & ProgressStream;
}

export interface CliCommand {
  readonly spec: Command;
  /** resolves to the exit status when it is not 0 (a command that re-ran itself in a child process) */
  readonly run: (argv: string[], io: CliStreams) => Promise<number | void> | void;
}

/** Every `peregrine <command>`, in the order `peregrine --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  { spec: GENERATE_COMMAND, run: (argv, io) => runGenerate(argv, io.stdout, io.stderr) },
  { spec: CHAT_COMMAND, run: (argv, io) => runChat(argv, io.stdin, io.stdout, io.stderr) },
  { spec: EMBED_COMMAND, run: (argv, io) => runEmbed(argv, io.stdout, io.stdin) },
  { spec: SERVE_COMMAND, run: (argv, io) => runServe(argv, io.stderr) },
  { spec: BENCH_COMMAND, run: (argv, io) => runBench(argv, io.stdout, io.stderr) },
  { spec: EVAL_COMMAND, run: (argv, io) => runEval(argv, io.stdout, io.stderr) },
  { spec: PLAN_COMMAND, run: (argv, io) => runPlan(argv, io.stdout, io.stderr) },
  { spec: TOKENIZE_COMMAND, run: (argv, io) => runTokenize(argv, io.stdout) },
  { spec: INFO_COMMAND, run: (argv, io) => runInfo(argv, io.stdout) },
  { spec: QUANTIZE_COMMAND, run: (argv, io) => runQuantize(argv, io.stdout, io.stderr) },
];
