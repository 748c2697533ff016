import { availableParallelism } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidRequestError } from '../errors/engine-error.js';
import { TRANSPORT_KINDS, type TransportKind } from '../parallel/transport.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_CACHE_TYPES } from '../kernels/kv-cache-type.js';

/**
 * One flag of a command: what parseArgs needs (type, multiple) and what `--help` shows (arg, help,
 * default). A command's flags are declared once, so its parser and its help cannot disagree.
 */
export type Flag =
  | {
      readonly type: 'string';
      /** the value's placeholder in --help: N, PATH, TEXT */
      readonly arg: string;
      /** may be given more than once; the values arrive as an array */
      readonly multiple?: boolean;
      /** one line for --help */
      readonly help: string;
      /** what applies when the flag is absent, as --help says it (the code applies it; this only shows it) */
      readonly default?: string;
    }
  | { readonly type: 'boolean'; readonly help: string };

export type Flags = { readonly [name: string]: Flag };

export interface Command<F extends Flags = Flags> {
  readonly name: string;
  /** what follows `peregrine <name>` on the usage line */
  readonly synopsis: string;
  /** what the command does: one paragraph, wrapped by formatHelp */
  readonly summary: string;
  readonly flags: F;
  /** whether the command takes positional arguments (info's PATH) */
  readonly positionals?: boolean;
}

/** `--tokenizer PATH`: the vocabulary of a Hugging Face directory that has no tokenizer.json */
export const TOKENIZER_FLAG = {
  type: 'string',
  arg: 'PATH',
  help: 'for a Hugging Face directory without tokenizer.json: a GGUF file, tokenizer.json or directory whose vocabulary it uses',
} as const satisfies Flag;

/** --kv-cache-type, as the commands that load a model for generation declare it (kvCacheTypeFlag reads it) */
export const KV_CACHE_TYPE_FLAG = {
  type: 'string',
  arg: 'T',
  help: `KV cache element type: ${KV_CACHE_TYPES.join(', ')} (bf16 as llama.cpp's; fp8: OCP E4M3 per value; q8_0: llama.cpp's blocks of 32 values and an f16 scale)`,
  default: 'f16',
} as const satisfies Flag;

/** --backend, as every command that loads a model declares it (backendFlag reads it) */
export const BACKEND_FLAG = { type: 'string', arg: 'B', help: 'auto (native kernels when built), native or reference', default: 'auto' } as const satisfies Flag;

/** --threads for a command that loads one model in this process (threadsFlag reads it) */
export const THREADS_FLAG = { type: 'string', arg: 'N', help: 'kernel threads', default: 'all cores' } as const satisfies Flag;

/** Declares a command; `const` keeps the flags' literal types, so parseCommandArgs can type their values. */
export function defineCommand<const F extends Flags>(command: Command<F>): Command<F> {
  return command;
}

type ParseOptions<F extends Flags> = {
  [K in keyof F]: { type: F[K]['type']; multiple: F[K] extends { multiple: true } ? true : false };
};
type Parsed<F extends Flags> = ReturnType<typeof parseArgs<{ args: string[]; options: ParseOptions<F>; allowPositionals: boolean; strict: true }>>;

const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const;

function parseOptions(flags: Flags): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.type, multiple: f.type === 'string' && f.multiple === true }]));
}

/** argv's options, read leniently: a flag's value is never taken for an option, unknown flags are kept. */
function scanOptions(argv: string[], command: Command): { name: string; rawName: string }[] {
  const { tokens } = parseArgs({ args: argv, options: { ...parseOptions(command.flags), ...HELP_FLAG }, allowPositionals: true, strict: false, tokens: true });
  return tokens.flatMap((t) => (t.kind === 'option' ? [{ name: t.name, rawName: t.rawName }] : []));
}

/** Whether argv asks for the command's help: --help or -h as an option (not as --prompt's value, not after --). */
export function isHelpRequested(argv: string[], command: Command): boolean {
  return scanOptions(argv, command).some((o) => o.name === 'help');
}

/** Parses argv for one command; unknown flags and bad values become InvalidRequestError (exit 2). */
export function parseCommandArgs<F extends Flags>(argv: string[], command: Command<F>): Parsed<F> {
  const unknown = scanOptions(argv, command).find((o) => !Object.hasOwn(command.flags, o.name));
  if (unknown) {
    const valid = [...Object.keys(command.flags), 'help'].map((name) => `--${name}`).join(', ');
    throw new InvalidRequestError('INVALID_ARGUMENT', `unknown option '${unknown.rawName}' for '${command.name}'; valid options: ${valid}`);
  }
  try {
    const options = parseOptions(command.flags);
    return parseArgs({ args: argv, options, allowPositionals: command.positionals ?? false, strict: true }) as Parsed<F>;
  } catch (err) {
    throw new InvalidRequestError('INVALID_ARGUMENT', (err as Error).message);
  }
}

/** `peregrine <command> --help`: the usage line, the summary and one line per flag, all from the command's declaration. */
export function formatHelp(command: Command): string {
  const rows: [string, string][] = Object.entries(command.flags).map(([name, f]) => [
    f.type === 'string' ? `--${name} ${f.arg}` : `--${name}`,
    f.help + (f.type === 'string' && f.multiple ? ' (repeatable)' : '') + (f.type === 'string' && f.default ? ` (default: ${f.default})` : ''),
  ]);
  rows.push(['-h, --help', 'print this help']);
  const column = Math.max(...rows.map(([label]) => label.length)) + 4;
  return [
    `Usage: peregrine ${command.name} ${command.synopsis}`,
    '',
    wrap(command.summary, 0),
    '',
    'Options:',
    ...rows.map(([label, text]) => `  ${label.padEnd(column - 2)}${wrap(text, column)}`),
  ].join('\n');
}

/** `text` in lines of at most `width` columns, each after the first indented by `indent` spaces. */
export function wrap(text: string, indent: number, width = 100): string {
  const lines = [''];
  for (const word of text.split(/\s+/)) {
    const line = lines[lines.length - 1]!;
    if (line && indent + line.length + 1 + word.length > width) lines.push(word);
    else lines[lines.length - 1] = line ? `${line} ${word}` : word;
  }
  return lines.join('\n' + ' '.repeat(indent));
}

export function numberFlag(value: unknown, flag: string, { integer = false } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be ${integer ? 'an integer' : 'a number'} (got '${String(value)}')`);
  }
  return n;
}

/** An integer of at least 1, or undefined when the flag is absent. */
export function positiveIntegerFlag(value: unknown, flag: string): number | undefined {
  const n = numberFlag(value, flag, { integer: true });
  if (n !== undefined && n < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be at least 1 (got ${n})`);
  return n;
}

/** --kv-cache-type's value, or undefined when absent */
export function kvCacheTypeFlag(value: unknown): KvCacheType | undefined {
  return choiceFlag(value, '--kv-cache-type', KV_CACHE_TYPES);
}

/** One of `choices`, or undefined when the flag is absent. */
export function choiceFlag<const C extends readonly string[]>(value: unknown, flag: string, choices: C): C[number] | undefined {
  if (value === undefined) return undefined;
  if (!choices.includes(value as string)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be one of ${choices.join(', ')} (got '${String(value)}')`);
  }
  return value as C[number];
}

/** --threads: an integer from 1 to the cores this process may use (0 fell back to the slow TypeScript backend, 100000 was accepted) */
export function threadsFlag(value: unknown): number | undefined {
  const n = numberFlag(value, '--threads', { integer: true });
  if (n === undefined) return undefined;
  const numCores = availableParallelism();
  if (n < 1 || n > numCores) throw new InvalidRequestError('INVALID_ARGUMENT', `--threads must be from 1 to ${numCores} (the cores available; got ${n})`);
  return n;
}

const PRECISIONS = ['exact', 'bf16', 'fastest'] as const;

export function matmulPrecisionFlag(value: unknown): (typeof PRECISIONS)[number] | undefined {
  if (value === undefined) return undefined;
  if (!PRECISIONS.includes(value as (typeof PRECISIONS)[number])) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--matmul-precision must be one of ${PRECISIONS.join(', ')} (got '${String(value)}')`);
  }
  return value as (typeof PRECISIONS)[number];
}

const BACKENDS = ['auto', 'native', 'reference'] as const;

export function backendFlag(value: unknown): (typeof BACKENDS)[number] | undefined {
  if (value === undefined) return undefined;
  if (!BACKENDS.includes(value as (typeof BACKENDS)[number])) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--backend must be one of ${BACKENDS.join(', ')} (got '${String(value)}')`);
  }
  return value as (typeof BACKENDS)[number];
}

/** `--tensor-parallel N`, `--pipeline-parallel M`, `--parallel-transport T`: the model on N × M workers (generate, serve, bench) */
export const PARALLEL_FLAGS = {
  'tensor-parallel': {
    type: 'string',
    arg: 'N',
    help: 'workers per pipeline stage, each with a slice of every layer (heads, FFN columns, KV cache); with N × M above 1 --threads is per worker',
    default: '1',
  },
  'pipeline-parallel': { type: 'string', arg: 'M', help: 'pipeline stages, each with a run of layers; a step is split into M micro-batches', default: '1' },
  'parallel-transport': {
    type: 'string',
    arg: 'T',
    help: 'how the N × M workers exchange activations: shared-memory (threads of this process) or socket (processes on Unix sockets)',
    default: 'shared-memory',
  },
} as const satisfies Flags;

/** The parallel plan of PARALLEL_FLAGS' values, checked; absent flags stay undefined (one worker, shared memory). */
export function parallelFlags(values: { readonly [K in keyof typeof PARALLEL_FLAGS]?: string }): {
  tensorParallel: number | undefined;
  pipelineParallel: number | undefined;
  parallelTransport: TransportKind | undefined;
} {
  return {
    tensorParallel: positiveIntegerFlag(values['tensor-parallel'], '--tensor-parallel'),
    pipelineParallel: positiveIntegerFlag(values['pipeline-parallel'], '--pipeline-parallel'),
    parallelTransport: choiceFlag(values['parallel-transport'], '--parallel-transport', TRANSPORT_KINDS),
  };
}
