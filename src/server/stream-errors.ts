import { toHttpError } from './http-error.js';
import type { RequestContext } from './route.js';
import { sendEvent } from './send.js';

/**
 * Runs the body of an SSE response. A failure after the headers went out becomes one
 * `data: {"error": ...}` event, then the stream closes; an abort by the client is silent.
 */
export async function streamWithErrorEvent(ctx: RequestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (ctx.signal.aborted) return;
    const { httpError, isInternal } = toHttpError(err, ctx.requestId);
    if (isInternal) console.error(`peregrine: request ${ctx.requestId} failed mid-stream:`, err);
    sendEvent(ctx.res, httpError.toBody());
  } finally {
    if (!ctx.res.writableEnded) ctx.res.end();
  }
}
