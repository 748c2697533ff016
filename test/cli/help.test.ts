import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineCommand, formatHelp, isHelpRequested, parseCommandArgs } from '../../src/cli/args.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { inProcess as peregrine } from './in-process.js';

// the CLI in this process (runCli, as dist/cli/main.js runs it); the expectations come from the
// commands' declarations in src. The built CLI runs once, for the exit status a shell sees.
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
/** --help must answer at once: a command that ran instead (serve listens forever) times out here */
const HELP_TIMEOUT_MS = 20_000;

describe('peregrine <command> --help', () => {
  for (const { spec } of COMMANDS) {
    it(`${spec.name}: exit 0, its usage on stdout, a described line for every flag`, async () => {
      const r = await peregrine(spec.name, '--help');
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.startsWith(`Usage: peregrine ${spec.name} ${spec.synopsis}\n`)).toBe(true);
      for (const [name, flag] of Object.entries(spec.flags)) {
        // "  --name ARG   description": the flag, its placeholder, then text
        const arg = flag.type === 'string' ? ` ${flag.arg.replace(/[|]/g, '\\|')}` : '';
        expect(r.stdout, `--${name}`).toMatch(new RegExp(`^  --${name}${arg} {2,}\\S`, 'm'));
      }
      expect(r.stdout).toMatch(/^ {2}-h, --help {2,}\S/m);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
      expect((await peregrine(spec.name, '-h')).stdout).toBe(r.stdout);
      expect(await peregrine('help', spec.name)).toEqual(r);
    }, HELP_TIMEOUT_MS);
  }

  it('help wins over other flags, even bad ones', async () => {
    const r = await peregrine('generate', '--max-tokens', 'many', '--bogus', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: peregrine generate /);
  }, HELP_TIMEOUT_MS);

  it("a flag's value that reads --help is a value, not a request for help", async () => {
    const r = await peregrine('tokenize', '--text=--help', '--no-special');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expect.any(Array));
  });

  it('peregrine --help, -h and help list every command; no command at all exits 2', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await peregrine(...args);
      expect(r.code, args.join(' ')).toBe(0);
      for (const { spec } of COMMANDS) expect(r.stdout).toContain(`peregrine ${spec.name} ${spec.synopsis}\n`);
    }
    // the built CLI, as a shell runs it: the usage and the exit status reach the process's own
    const bare = spawnSync(process.execPath, [CLI], { encoding: 'utf8', timeout: HELP_TIMEOUT_MS });
    expect(bare.status).toBe(2);
    expect(bare.stdout).toMatch(/^Usage: peregrine <command>/);
    const r = await peregrine('help', 'frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^peregrine: unknown command 'frobnicate'/);
  });
});

describe('unknown options', () => {
  for (const { spec } of COMMANDS) {
    it(`${spec.name}: exit 2, naming the option, the command and every valid option`, async () => {
      const r = await peregrine(spec.name, '--no-such-flag');
      const valid = [...Object.keys(spec.flags), 'help'].map((name) => `--${name}`).join(', ');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`peregrine: error [INVALID_ARGUMENT]: unknown option '--no-such-flag' for '${spec.name}'; valid options: ${valid}\n`);
    });
  }
});

describe('parseCommandArgs and isHelpRequested', () => {
  const command = defineCommand({
    name: 'demo',
    synopsis: '[options]',
    summary: 'A command for this test.',
    flags: {
      prompt: { type: 'string', arg: 'TEXT', help: 'the prompt', default: 'empty' },
      stop: { type: 'string', arg: 'TEXT', multiple: true, help: 'stop before TEXT' },
      json: { type: 'boolean', help: 'as JSON' },
    },
  });

  it('finds --help and -h as options only', () => {
    expect(isHelpRequested(['--help'], command)).toBe(true);
    expect(isHelpRequested(['--json', '-h'], command)).toBe(true);
    expect(isHelpRequested(['--prompt', '--help'], command)).toBe(false);
    expect(isHelpRequested(['--stop=-h'], command)).toBe(false);
    expect(isHelpRequested(['--', '--help'], command)).toBe(false);
  });

  it('parses values of the declared types and names an unknown short option too', () => {
    const { values } = parseCommandArgs(['--prompt', 'hi', '--stop', 'a', '--stop', 'b', '--json'], command);
    expect(values).toEqual({ prompt: 'hi', stop: ['a', 'b'], json: true });
    expect(() => parseCommandArgs(['-x'], command)).toThrow("unknown option '-x' for 'demo'; valid options: --prompt, --stop, --json, --help");
    expect(() => parseCommandArgs(['stray'], command)).toThrow(/Unexpected argument 'stray'/);
  });

  it('formats each flag with its placeholder, description, repeatability and default', () => {
    expect(formatHelp(command)).toBe(
      [
        'Usage: peregrine demo [options]',
        '',
        'A command for this test.',
        '',
        'Options:',
        '  --prompt TEXT  the prompt (default: empty)',
        '  --stop TEXT    stop before TEXT (repeatable)',
        '  --json         as JSON',
        '  -h, --help     print this help',
      ].join('\n'),
    );
  });
});
