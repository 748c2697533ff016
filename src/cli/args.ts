import { parseArgs, type ParseArgsConfig } from 'node:util';

type Parsed<T extends OptionSpec> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>>;
import { InvalidRequestError } from '../errors/engine-error.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parses argv for one command; unknown flags and bad values become InvalidRequestError (exit 2). */
export function parseCommandArgs<T extends OptionSpec>(argv: string[], options: T, allowPositionals = false): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true as const });
  } catch (err) {
    throw new InvalidRequestError('INVALID_ARGUMENT', (err as Error).message);
  }
}

export function numberFlag(value: unknown, flag: string, { integer = false } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be ${integer ? 'an integer' : 'a number'} (got '${String(value)}')`);
  }
  return n;
}

const PRECISIONS = ['exact', 'bf16'] as const;

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
