import { HttpError, toHttpError } from './http-error.js';
import type { RequestContext } from './route.js';
import { sendEvent } from './send.js';

/**
 * Runs the body of an SSE response. A failure after the headers went out becomes one
 * `data: {"error": ...}` event, then the stream closes; so does an abort by the server (shutting
 * down: its HttpError is the abort's reason). An abort by the client is silent.
 */
/** The error event as a stream sends it: `data`, and an `event:` name where the API names its events. */
export interface ErrorEvent {
  readonly data: unknown;
  readonly eventName?: string;
}

export async function streamWithErrorEvent(
  ctx: RequestContext,
  body: () => Promise<void>,
  toErrorEvent: (error: HttpError) => ErrorEvent = (error) => ({ data: error.toBody() }),
): Promise<void> {
  try {
    await body();
  } catch (err) {
    const isClientGone = ctx.signal.aborted && !(ctx.signal.reason instanceof HttpError);
    if (isClientGone) return;
    const { httpError, isInternal } = toHttpError(ctx.signal.aborted ? ctx.signal.reason : err, ctx.requestId);
    ctx.record.errorCode = httpError.code ?? undefined;
    ctx.record.streamErrorStatus = httpError.status;
    if (isInternal) ctx.logger.error({ err }, 'request failed mid-stream');
    const event = toErrorEvent(httpError);
    sendEvent(ctx.res, event.data, event.eventName);
  } finally {
    if (!ctx.res.writableEnded) ctx.res.end();
  }
}
