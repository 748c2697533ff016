/**
 * The entry point of a worker that acts as a device (started by DeviceGroup, src/parallel/device-group.ts):
 * a worker thread (transport 'shared-memory'; its DeviceInit in workerData) or a child process
 * (transport 'socket'; its DeviceInit as JSON in argv[2], an IPC channel to the parent). It
 * connects its transport, creates its own kernel backend with its own thread count, says
 * `ready`, then runs the parent's commands (DeviceWorker) until `close`, or until the parent
 * goes away.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../kernels/select-backend.js';
import type { DeviceInit, DeviceReply, DeviceRequest, DeviceResult } from './device-protocol.js';
import { serializeError } from '../errors/serialized-error.js';
import { DeviceWorker } from './device-worker.js';
import { SharedMemorySegment } from './shared-memory-segment.js';
import { SharedMemoryTransport } from './shared-memory-transport.js';
import { SocketTransport } from './socket-transport.js';
import type { Transport } from './transport.js';

interface ParentChannel {
  post(reply: DeviceReply): void;
  onRequest(handler: (request: DeviceRequest) => void): void;
  /** lets the worker end once nothing else keeps it alive */
  release(): void;
}

function threadChannel(): ParentChannel {
  const port = parentPort!;
  return {
    post: (reply) => port.postMessage(reply, reply.kind === 'result' ? transferables(reply.result) : []),
    onRequest: (handler) => port.on('message', handler),
    release: () => port.close(),
  };
}

/**
 * the buffers of a result's arrays, moved to the parent rather than copied (a step's logits are
 * vocabSize floats): each array a command returns is its own, made for the reply
 */
function transferables(result: DeviceResult): ArrayBuffer[] {
  const arrays = result instanceof Float32Array ? [result] : result ? [result.logits, result.argmax, result.hidden] : [];
  return [...new Set(arrays.map((a) => a.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer))];
}

function processChannel(): ParentChannel {
  // the parent is gone: nothing will ever ask this process for anything again
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  return {
    post: (reply) => process.send!(reply),
    onRequest: (handler) => process.on('message', (m) => handler(m as DeviceRequest)),
    release: () => process.disconnect(),
  };
}

async function connectTransport(init: DeviceInit): Promise<Transport> {
  const t = init.transport;
  if (t.kind === 'shared-memory') {
    const segment = new SharedMemorySegment(t.buffer, init.worldSize, t.ringBytes);
    return new SharedMemoryTransport(segment, init.rank, { peerTimeoutMs: init.peerTimeoutMs, spinMicros: t.spinMicros });
  }
  return SocketTransport.connect({ rank: init.rank, worldSize: init.worldSize, socketDir: t.socketDir, peerTimeoutMs: init.peerTimeoutMs, connectTimeoutMs: init.startTimeoutMs });
}

async function main(): Promise<void> {
  const channel = isMainThread ? processChannel() : threadChannel();
  const init = (isMainThread ? JSON.parse(process.argv[2]!) : workerData) as DeviceInit;
  let device: DeviceWorker;
  try {
    const transport = await connectTransport(init);
    device = new DeviceWorker(transport, selectBackend(init.backend, { threads: init.threads, matmulPrecision: init.matmulPrecision }));
  } catch (err) {
    channel.post({ kind: 'error', id: -1, error: serializeError(err) });
    channel.release();
    return;
  }
  channel.onRequest(({ id, command }) => {
    device.run(command).then(
      ({ result, elapsedMs }) => {
        channel.post({ kind: 'result', id, result, elapsedMs });
        if (command.kind === 'close') channel.release();
      },
      (err: unknown) => channel.post({ kind: 'error', id, error: serializeError(err) }),
    );
  });
  channel.post({ kind: 'ready', rank: init.rank, backendName: device.backendName, hasBf16Batches: device.hasBf16Batches });
}

void main();
