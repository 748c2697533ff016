/**
 * A quantizer thread (started by ChunkPool, chunk-pool.ts): converts the chunks it is sent with
 * convertChunk, reading them from the model file's descriptor, which it shares with the main
 * thread (one process, one descriptor table; the main thread closes it only once every worker has
 * been terminated), or from the jobs themselves (a Hugging Face directory's), and answers each with its bytes or its error, one message per chunk, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../errors/serialized-error.js';
import type { ChunkReply, ChunkRequest, ChunkWorkerData } from './chunk-pool.js';
import { convertChunk } from './tensor-chunks.js';

const { fd, shownPath } = workerData as ChunkWorkerData;
const port = parentPort!;
port.on('message', ({ id, job }: ChunkRequest) => {
  let bytes: Uint8Array;
  try {
    bytes = convertChunk(job, fd, shownPath);
  } catch (err) {
    port.postMessage({ id, error: serializeError(err) } satisfies ChunkReply);
    return;
  }
  port.postMessage({ id, bytes } satisfies ChunkReply, bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : []);
});
