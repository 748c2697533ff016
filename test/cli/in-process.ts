import { PassThrough, Writable } from 'node:stream';
import { runCli } from '../../src/cli/run-cli.js';

/** A stream that keeps what is written to it. */
class Collected extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/**
 * `peregrine ...args` in this process (runCli, which dist/cli/main.js runs on the process's
 * streams): the same exit status, stdout and stderr without the second a new process takes to load
 * the CLI's modules. For what a command says and does; a test of what the process boundary decides
 * (the exit status as the shell sees it, signals, a listening server) spawns dist/cli/main.js.
 */
export async function inProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return inProcessWithInput(undefined, ...args);
}

/** inProcess with `input` on stdin, a pipe (not a terminal) that ends after it; undefined: this process's stdin */
export async function inProcessWithInput(input: string | undefined, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Collected();
  const stderr = new Collected();
  const stdin = input === undefined ? process.stdin : (new PassThrough().end(input) as unknown as NodeJS.ReadStream);
  const code = await runCli(args, { stdin, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
