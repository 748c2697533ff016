import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { InvalidRequestError } from '../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../errors/untrusted-text.js';
import type { Command } from './args.js';

/** A flag's values as parseArgs gives them: a string, a list of strings (repeatable flags), a boolean. */
export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/**
 * A command's flags read from a YAML or JSON file (JSON is YAML): a mapping whose keys are flag
 * long names, kebab-case (`max-num-seqs`) or camelCase (`maxNumSeqs`); values as on the command
 * line (numbers may be numbers; a repeatable flag takes a list or one value; a boolean flag takes
 * true/false). An unknown key, a key given twice, a value of the wrong shape, an unreadable or
 * unparsable file are InvalidRequestErrors naming the file and the key. `excluded` flags (--config
 * itself) may not appear.
 */
export interface ConfigFile {
  readonly values: FlagValues;
  /** flag name → the key as the file spells it (maxNumSeqs), to name it in errors */
  readonly keys: Readonly<Record<string, string>>;
}

export function readConfigFile(path: string, command: Command, excluded: readonly string[] = []): ConfigFile {
  const where = untrustedPath(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--config: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--config: ${where} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return { values: {}, keys: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--config: ${where} must hold a mapping of option names to values`);
  }
  const values: FlagValues = {};
  const keys: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const flag = Object.hasOwn(command.flags, name) && !excluded.includes(name) ? command.flags[name]! : undefined;
    const bad = (why: string) => new InvalidRequestError('INVALID_ARGUMENT', `--config ${where}: '${untrustedText(key)}' ${why}`);
    if (!flag) {
      const valid = Object.keys(command.flags).filter((n) => !excluded.includes(n));
      throw bad(`is not an option of '${command.name}'; valid keys: ${valid.join(', ')}`);
    }
    if (Object.hasOwn(values, name)) throw bad(`is given twice (as kebab-case and camelCase)`);
    keys[name] = key;
    if (flag.type === 'boolean') {
      if (typeof value !== 'boolean') throw bad('must be true or false');
      values[name] = value;
    } else if (flag.multiple) {
      const list = Array.isArray(value) ? value : [value];
      values[name] = list.map((item) => scalarText(item, () => bad('must be a string or number, or a list of them')));
    } else {
      values[name] = scalarText(value, () => bad('must be a string or a number'));
    }
  }
  return { values, keys };
}

/** Flag values with the command line's taking precedence over the file's (a repeatable flag's list is replaced, not merged). */
export function mergeFlagValues<V extends object>(fromFile: FlagValues, fromCommandLine: V): V {
  const merged: FlagValues = { ...fromFile };
  for (const [name, value] of Object.entries(fromCommandLine)) if (value !== undefined) merged[name] = value as FlagValues[string];
  return merged as V;
}

function scalarText(value: unknown, bad: () => Error): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw bad();
}
