import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineCommand } from './args.js';
import { mergeFlagValues, readConfigFile } from './config-file.js';

const COMMAND = defineCommand({
  name: 'demo',
  synopsis: '',
  summary: '',
  flags: {
    'max-num-seqs': { type: 'string', arg: 'N', help: '' },
    'model-alias': { type: 'string', arg: 'NAME', multiple: true, help: '' },
    'ignore-eos': { type: 'boolean', help: '' },
    config: { type: 'string', arg: 'FILE', help: '' },
  },
});

const dir = mkdtempSync(join(tmpdir(), 'peregrine-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('readConfigFile', () => {
  it('reads YAML and JSON, camelCase and kebab-case keys, as the command line would give them', () => {
    const yaml = readConfigFile(file('a.yaml', 'maxNumSeqs: 8\nmodel-alias: [a, 2]\nignoreEos: true\n'), COMMAND, ['config']);
    expect(yaml.values).toEqual({ 'max-num-seqs': '8', 'model-alias': ['a', '2'], 'ignore-eos': true });
    expect(yaml.keys).toEqual({ 'max-num-seqs': 'maxNumSeqs', 'model-alias': 'model-alias', 'ignore-eos': 'ignoreEos' });
    const json = readConfigFile(file('a.json', '{"max-num-seqs": "4", "modelAlias": "one"}'), COMMAND);
    expect(json.values).toEqual({ 'max-num-seqs': '4', 'model-alias': ['one'] });
    expect(readConfigFile(file('empty.yaml', ''), COMMAND).values).toEqual({});
  });

  it('refuses unknown and excluded keys, wrong shapes and duplicate keys, naming the key', () => {
    const refused: [string, RegExp][] = [
      ['maxNumSeq: 1', /'maxNumSeq' is not an option of 'demo'; valid keys: max-num-seqs, model-alias, ignore-eos$/],
      ['config: x.yaml', /'config' is not an option/],
      ['ignoreEos: "yes"', /'ignoreEos' must be true or false/],
      ['maxNumSeqs: {a: 1}', /'maxNumSeqs' must be a string or a number/],
      ['maxNumSeqs: .nan', /'maxNumSeqs' must be a string or a number/],
      ['modelAlias: [[a]]', /'modelAlias' must be a string or number, or a list of them/],
      ['maxNumSeqs: 1\nmax-num-seqs: 2', /'max-num-seqs' is given twice/],
      ['maxNumSeqs: 1\nmaxNumSeqs: 2', /not valid YAML or JSON/],
      ['just text', /must hold a mapping/],
    ];
    for (const [text, message] of refused) expect(() => readConfigFile(file('bad.yaml', text), COMMAND, ['config']), text).toThrow(message);
  });
});

describe('mergeFlagValues', () => {
  it('the command line wins, a repeatable flag is replaced as a whole, absent flags keep the file value', () => {
    const merged = mergeFlagValues({ 'max-num-seqs': '8', 'model-alias': ['a', 'b'], 'ignore-eos': true }, { 'model-alias': ['c'], 'max-num-seqs': undefined });
    expect(merged).toEqual({ 'max-num-seqs': '8', 'model-alias': ['c'], 'ignore-eos': true });
  });
});
