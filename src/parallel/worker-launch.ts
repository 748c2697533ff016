import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DeviceInit, DeviceReply, DeviceRequest } from './device-protocol.js';

/** The parent's handle on one started worker, thread or process alike. */
export interface LaunchedWorker {
  post(request: DeviceRequest): void;
  onReply(handler: (reply: DeviceReply) => void): void;
  /** once, when the worker has ended for whatever reason: how it ended, in words */
  onExit(handler: (how: string) => void): void;
  /** ends it now, wherever it is (a thread is terminated, a process gets SIGKILL) */
  kill(): void;
}

/**
 * A worker module's file and the Node options to run it, given its URL as the built package names
 * it (`new URL('./x-worker.js', import.meta.url)`): that file in the built package (dist/); from
 * the TypeScript sources (tests, vite-node benches), the .ts file beside it with the source loader
 * (src/parallel/source-loader/), which transpiles it on load.
 */
export function workerEntry(builtUrl: URL): { readonly file: string; readonly execArgv: string[] } {
  const file = fileURLToPath(builtUrl);
  if (import.meta.url.endsWith('.js')) return { file, execArgv: [] };
  const loader = fileURLToPath(new URL('./source-loader/register.mjs', import.meta.url));
  return { file: file.replace(/\.js$/, '.ts'), execArgv: ['--import', loader] };
}

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);

/** A worker thread of this process (for the shared-memory transport): DeviceInit in workerData. */
export function launchThread(init: DeviceInit): LaunchedWorker {
  const { file, execArgv } = workerEntry(WORKER_MAIN);
  const worker = new Worker(file, { workerData: init, execArgv });
  let lastError = '';
  worker.on('error', (err) => (lastError = err.message));
  return {
    post: (request) => worker.postMessage(request),
    onReply: (handler) => worker.on('message', handler),
    onExit: (handler) => worker.once('exit', (code) => handler(lastError ? `failed (${lastError})` : `exited with code ${code}`)),
    kill: () => void worker.terminate(),
  };
}

/** A child process (for the socket transport): DeviceInit as JSON in argv[2], replies over IPC. */
export function launchProcess(init: DeviceInit): LaunchedWorker {
  const { file, execArgv } = workerEntry(WORKER_MAIN);
  const child: ChildProcess = fork(file, [JSON.stringify(init)], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let lastError = '';
  const exitHandlers: ((how: string) => void)[] = [];
  let how: string | undefined;
  const ended = (description: string): void => {
    if (how !== undefined) return;
    how = description;
    for (const handler of exitHandlers) handler(description);
  };
  child.on('error', (err) => {
    lastError = err.message;
    if (child.pid === undefined) ended(`failed to start (${err.message})`); // no 'exit' follows
  });
  child.once('exit', (code, signal) => ended(lastError ? `failed (${lastError})` : signal ? `was killed by ${signal}` : `exited with code ${code}`));
  return {
    post: (request) => {
      if (child.connected) child.send(request);
    },
    onReply: (handler) => child.on('message', (m) => handler(m as DeviceReply)),
    onExit: (handler) => (how === undefined ? exitHandlers.push(handler) : handler(how)),
    kill: () => void child.kill('SIGKILL'),
  };
}
