import { HttpError, toHttpError } from './http-error.js';
import type { RequestContext } from './route.js';
import { sendEvent } from './send.js';

/**
 * Runs the body of an SSE response. A failure after the headers went out becomes one
 * `data: {"error": ...}` event, then the stream closes; so does an abort by the server (shutting
 * down: its HttpError is the abort's reason). An abort by the client is silent.
 */
export async function streamWithErrorEvent(ctx: RequestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const isClientGone = ctx.signal.aborted && !(ctx.signal.reason instanceof HttpError);
    if (isClientGone) return;
    const { httpError, isInternal } = toHttpError(ctx.signal.aborted ? ctx.signal.reason : err, ctx.requestId);
    ctx.record.errorCode = httpError.code ?? undefined;
    ctx.record.streamErrorStatus = httpError.status;
    if (isInternal) ctx.logger.error({ err }, 'request failed mid-stream');
    sendEvent(ctx.res, httpError.toBody());
  } finally {
    if (!ctx.res.writableEnded) ctx.res.end();
  }
}
