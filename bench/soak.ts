/**
 * `npm run soak`: the server in-process on the bundled stories260K model (or --model), under a bounded
 * number of concurrent loopback clients for --seconds: streams read to the end, non-streaming chat,
 * streams aborted mid-way, clients that never read their stream (n=16, logprobs=20) until the server
 * cuts them off, 4 MB prompts and chats of 20,000 messages (answered 200, or 400 when they cannot
 * fit). At the end it checks that nothing leaked or piled up:
 * - 0 requests running or waiting, KV usage 0;
 * - no response held more than --max-unread-bytes (+ 64 KiB) that its client had not read;
 * - RSS growth after a GC under --max-rss-growth-mb, from a quarter of the way in (the load has
 *   reached its working set) to the end: a leak grows on, a high-water mark does not;
 * - event-loop delay p99 under --max-loop-p99-ms (perf_hooks.monitorEventLoopDelay).
 * Prints a summary; exits 1 on a failure.
 *
 *   npm run soak -- [--seconds 60] [--clients 8] [--max-unread-bytes 1048576] [--max-rss-growth-mb 32] [--max-loop-p99-ms 200] [--seed 1]
 *                   [--model PATH] [--context-size 512]
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { DEFAULT_MODEL_PATH } from '../src/cli/default-model.js';
import { createServingEngine } from '../src/engine/async-engine.js';
import { loadModel } from '../src/engine/loaded-model.js';
import { createLogger } from '../src/server/logging/logger.js';
import { formatLogLine } from '../src/server/logging/text-log-format.js';
import { createServer } from '../src/server/server.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '8' },
    'max-unread-bytes': { type: 'string', default: String(1024 * 1024) },
    'max-rss-growth-mb': { type: 'string', default: '32' },
    'max-loop-p99-ms': { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    model: { type: 'string', default: DEFAULT_MODEL_PATH },
    'context-size': { type: 'string', default: '512' },
  },
});
/** a flag's value, a finite number above `min` (or equal to it when `isMinAllowed`), an integer where asked; anything else ends the run with a one-line error */
function numberFlag(name: keyof typeof values, { isInteger = false, min = 0, isMinAllowed = false } = {}): number {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < min || (n === min && !isMinAllowed) || (isInteger && !Number.isSafeInteger(n))) {
    process.stderr.write(`soak: --${name} must be ${isInteger ? 'an integer' : 'a number'} ${isMinAllowed ? '>=' : '>'} ${min} (got '${values[name]}')\n`);
    process.exit(2);
  }
  return n;
}
const seconds = numberFlag('seconds');
const numClients = numberFlag('clients', { isInteger: true });
const maxUnreadBytes = numberFlag('max-unread-bytes', { isInteger: true });
const maxRssGrowthMb = numberFlag('max-rss-growth-mb');
const maxLoopP99Ms = numberFlag('max-loop-p99-ms');
let seed = numberFlag('seed', { isInteger: true, isMinAllowed: true });
const contextSize = numberFlag('context-size', { isInteger: true });
const MODEL_NAME = 'soak';
/** when the clients stop starting requests (set once the warm-up is done) */
let deadline = Infinity;
const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park', 'One day, a bird'];

/** mulberry32: reproducible client mixes */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** a real GC when --expose-gc is not given: the flag can be set at run time, and a new context then has `gc` */
function collectGarbage(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    return true;
  } catch {
    return false;
  }
}

const model = await loadModel(values.model!, { contextSize, threads: 1 });
const engine = createServingEngine(model, { maxNumSeqs: 16, maxQueueLength: 64 });
const numServerCuts = { value: 0 };
// the server's warnings: its cuts of clients that do not read are counted, the rest printed (request lines are dropped)
const logger = createLogger({
  level: 'warn',
  format: 'json',
  destination: {
    write(line: string) {
      const record = JSON.parse(line) as { msg?: string };
      if (record.msg === 'request') return;
      if (String(record.msg).includes('unread')) numServerCuts.value++;
      else process.stderr.write(formatLogLine(line));
    },
  },
});
const server = createServer(engine, { modelName: MODEL_NAME, maxUnreadBytes, logger });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
// what the server holds for clients that have not read it: sampled over open responses
const openResponses = new Set<ServerResponse>();
server.on('request', (_req, res: ServerResponse) => {
  openResponses.add(res);
  res.once('close', () => openResponses.delete(res));
});
let maxUnreadPerResponse = 0;
let maxUnreadTotal = 0;
const unreadSampler = setInterval(() => {
  let total = 0;
  for (const res of openResponses) {
    total += res.writableLength;
    maxUnreadPerResponse = Math.max(maxUnreadPerResponse, res.writableLength);
  }
  maxUnreadTotal = Math.max(maxUnreadTotal, total);
}, 20);
const baseUrl = `http://127.0.0.1:${port}`;

type Kind = 'stream' | 'chat' | 'abort' | 'non-reader' | 'big-prompt' | 'big-chat';
const counts: Record<Kind | 'failed' | 'rejected' | 'too-long', number> = {
  stream: 0, chat: 0, abort: 0, 'non-reader': 0, 'big-prompt': 0, 'big-chat': 0, failed: 0, rejected: 0, 'too-long': 0,
};
const failures: string[] = [];

function fail(kind: Kind, why: string): void {
  counts.failed++;
  if (failures.length < 10) failures.push(`${kind}: ${why}`);
}

/** a stream read to its end: it must end with [DONE] */
async function streamClient(): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, prompt: pick(PROMPTS), max_tokens: 16 + Math.floor(random() * 100), n: pick([1, 1, 2, 4]), stream: true }),
  });
  const text = await res.text();
  if (res.status === 429) counts.rejected++;
  else if (res.status !== 200 || !text.includes('data: [DONE]')) fail('stream', `status ${res.status}: ${text.slice(-200)}`);
  else counts.stream++;
}

async function chatClient(): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: pick(PROMPTS) }], max_tokens: 8 + Math.floor(random() * 64), logprobs: true, top_logprobs: 3 }),
  });
  const text = await res.text();
  if (res.status === 429) counts.rejected++;
  else if (res.status !== 200) fail('chat', `status ${res.status}: ${text.slice(0, 200)}`);
  else counts.chat++;
}

/** a stream the client abandons after a few events */
async function abortingClient(): Promise<void> {
  const controller = new AbortController();
  try {
    const res = await fetch(`${baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, prompt: pick(PROMPTS), max_tokens: 400, ignore_eos: true, n: pick([1, 4]), stream: true }),
      signal: controller.signal,
    });
    if (res.status === 429) {
      counts.rejected++;
      await res.text();
      return;
    }
    const reader = res.body!.getReader();
    const numReads = 1 + Math.floor(random() * 10);
    for (let i = 0; i < numReads; i++) if ((await reader.read()).done) break;
    controller.abort();
    counts.abort++;
  } catch (err) {
    if (!controller.signal.aborted) fail('abort', String(err));
  }
}

/** n=16 with logprobs=20 over a socket that never reads; gives up after a while or when the server closes it */
async function nonReadingClient(): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  const body = JSON.stringify({ model: MODEL_NAME, prompt: pick(PROMPTS), n: 16, logprobs: 20, max_tokens: 450, ignore_eos: true, stream: true });
  socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const closed = once(socket, 'close');
  await Promise.race([closed, sleep(Math.min(2000 + random() * 10_000, Math.max(1000, deadline - Date.now())))]);
  socket.destroy();
  counts['non-reader']++;
}

/** a request that may not fit: 200, or 400 prompt_too_long, nothing else */
async function expectFitOrTooLong(kind: Kind, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status === 429) counts.rejected++;
  else if (res.status === 400 && text.includes('prompt_too_long')) counts['too-long']++;
  else if (res.status !== 200) fail(kind, `status ${res.status}: ${text.slice(0, 200)}`);
  else counts[kind]++;
}

/** words of real text, about `numBytes` of them */
function words(numBytes: number): string {
  const parts: string[] = [];
  for (let n = 0; n < numBytes; ) {
    const piece = `${pick(PROMPTS)}, `;
    parts.push(piece);
    n += piece.length;
  }
  return parts.join('');
}

/** 4 MB of prompt, or as much as the context could hold, tokenized on the prompt thread */
async function bigPromptClient(): Promise<void> {
  const numBytes = random() < 0.5 ? 4_000_000 : Math.min(4_000_000, contextSize * model.tokenizer.maxTokenBytes);
  await expectFitOrTooLong('big-prompt', '/v1/completions', { model: MODEL_NAME, prompt: words(numBytes), max_tokens: 1 });
}

/** 20,000 short messages: refused unless the context could hold them, then rendered on the prompt thread */
async function bigChatClient(): Promise<void> {
  const messages = Array.from({ length: 20_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: pick(PROMPTS) }));
  await expectFitOrTooLong('big-chat', '/v1/chat/completions', { model: MODEL_NAME, messages, max_tokens: 1 });
}

const CLIENTS: readonly [Kind, () => Promise<void>][] = [
  ['stream', streamClient],
  ['stream', streamClient],
  ['chat', chatClient],
  ['abort', abortingClient],
  ['abort', abortingClient],
  ['non-reader', nonReadingClient],
  ['big-prompt', bigPromptClient],
  ['big-chat', bigChatClient],
];

async function clientLoop(deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const [kind, run] = pick(CLIENTS);
    try {
      await run();
    } catch (err) {
      fail(kind, String(err));
    }
  }
}

async function untilIdle(ms: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await sleep(50)) {
    const s = engine.stats();
    if (s.numRunning === 0 && s.numWaiting === 0 && s.kvCacheUsage === 0) return true;
  }
  return false;
}

// warm up (first requests allocate caches, compile code), then take the baseline
await Promise.all([streamClient(), chatClient(), abortingClient()]);
await untilIdle(10_000);
const hasGc = collectGarbage();
const rssStartMb = process.memoryUsage().rss / 2 ** 20;
let rssBeforeMb = rssStartMb;
let heapBeforeMb = process.memoryUsage().heapUsed / 2 ** 20;

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const startedAt = Date.now();
deadline = startedAt + seconds * 1000;
setTimeout(() => {
  collectGarbage();
  rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  heapBeforeMb = process.memoryUsage().heapUsed / 2 ** 20;
}, seconds * 250);
await Promise.all(Array.from({ length: numClients }, () => clientLoop(deadline)));
loopDelay.disable();
clearInterval(unreadSampler);
const elapsedSec = (Date.now() - startedAt) / 1000;

const isIdle = await untilIdle(15_000);
const stats = engine.stats();
server.closeAllConnections();
await new Promise<void>((resolve) => server.close(() => resolve()));
await sleep(200);
collectGarbage();
const rssAfterMb = process.memoryUsage().rss / 2 ** 20;
const heapAfterMb = process.memoryUsage().heapUsed / 2 ** 20;
const rssGrowthMb = rssAfterMb - rssBeforeMb;
const loopP99Ms = loopDelay.percentile(99) / 1e6;

const problems: string[] = [];
if (!isIdle) problems.push(`engine not idle: ${stats.numRunning} running, ${stats.numWaiting} waiting, KV usage ${stats.kvCacheUsage}`);
if (counts.failed > 0) problems.push(`${counts.failed} client(s) failed: ${failures.join('; ')}`);
if (hasGc && rssGrowthMb > maxRssGrowthMb) problems.push(`RSS grew ${rssGrowthMb.toFixed(1)} MB (limit ${maxRssGrowthMb} MB)`);
// the bound, plus the event that passed it and the error event after it
if (maxUnreadPerResponse > maxUnreadBytes + 64 * 1024) {
  problems.push(`a response held ${maxUnreadPerResponse} bytes its client had not read (limit ${maxUnreadBytes} + 64 KiB)`);
}
if (loopP99Ms > maxLoopP99Ms) problems.push(`event-loop delay p99 ${loopP99Ms.toFixed(1)} ms (limit ${maxLoopP99Ms} ms)`);

console.log(`soak: ${elapsedSec.toFixed(1)} s, ${numClients} clients, max unread bytes ${maxUnreadBytes}, ${values.model} (context ${contextSize})`);
console.log(
  `  requests: ${counts.stream} streams read, ${counts.chat} chat, ${counts.abort} aborted by the client, ` +
    `${counts['non-reader']} non-reading (${numServerCuts.value} cut by the server), ${counts['big-prompt']} big prompts and ` +
    `${counts['big-chat']} big chats served, ${counts['too-long']} refused as too long, ${counts.rejected} rejected 429, ${counts.failed} failed`,
);
console.log(`  unread output held by the server: at most ${maxUnreadPerResponse} bytes for one response, ${maxUnreadTotal} in all`);
console.log(`  engine at the end: ${stats.numRunning} running, ${stats.numWaiting} waiting, KV usage ${stats.kvCacheUsage}`);
console.log(
  `  RSS after warm-up ${rssStartMb.toFixed(1)} MB; a quarter in ${rssBeforeMb.toFixed(1)} -> end ${rssAfterMb.toFixed(1)} MB ` +
    `(${rssGrowthMb >= 0 ? '+' : ''}${rssGrowthMb.toFixed(1)} MB${hasGc ? ', after GC' : ', no GC available: not checked'}); ` +
    `JS heap ${heapBeforeMb.toFixed(1)} -> ${heapAfterMb.toFixed(1)} MB`,
);
console.log(
  `  event-loop delay: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${loopP99Ms.toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
);
await engine.shutdown();
if (problems.length > 0) {
  console.log(`soak: FAILED\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('soak: ok');
process.exit(0);
