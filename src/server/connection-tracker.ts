import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpError } from './http-error.js';

/** One request that reached the handler, from its arrival until its response is done. */
export interface TrackedRequest {
  readonly res: ServerResponse;
  /** aborting it stops the request: its body read, its generations */
  readonly controller: AbortController;
  /** whether its body is still arriving: nothing of it has reached the engine yet */
  isReceiving: boolean;
}

/**
 * The server's open connections and the requests in flight on each, so that shutdown can tell
 * them apart: a connection with no request in flight (idle keep-alive, or still sending its
 * headers) can be closed at once, a request still sending its body can be refused, and a running
 * request can be waited for or aborted.
 */
export class ConnectionTracker {
  /** socket → its requests whose response is not done */
  private readonly sockets = new Map<Socket, Set<TrackedRequest>>();
  private drainError: HttpError | undefined;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, new Set());
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Set once shutdown has begun: the error new requests and requests still sending their body get. */
  get drainReason(): HttpError | undefined {
    return this.drainError;
  }

  /** Tracks a request from now until its response closes (finished, or the client went away). */
  track(req: IncomingMessage, res: ServerResponse, controller: AbortController): TrackedRequest {
    const request: TrackedRequest = { res, controller, isReceiving: true };
    const requests = this.sockets.get(req.socket);
    if (!requests) return request; // the socket closed already
    requests.add(request);
    res.once('close', () => requests.delete(request));
    if (this.drainError) res.setHeader('connection', 'close');
    return request;
  }

  /**
   * Begins shutdown: every response from now on closes its connection, requests still sending their
   * body are refused with `reason`, and connections with no request in flight are closed.
   */
  beginDrain(reason: HttpError): void {
    this.drainError ??= reason;
    for (const requests of this.sockets.values()) {
      for (const request of requests) {
        if (!request.res.headersSent) request.res.setHeader('connection', 'close');
        if (request.isReceiving) request.controller.abort(reason);
      }
    }
    this.closeIdle();
  }

  /** Destroys the connections with no request in flight: idle keep-alive ones and ones still sending headers. */
  closeIdle(): void {
    for (const [socket, requests] of this.sockets) {
      if (requests.size > 0) continue;
      // the tail of a finished response may still be queued: end() sends it first
      if (socket.writableLength > 0) socket.end();
      else socket.destroy();
    }
  }

  /** Aborts every request in flight with `reason` (a stream ends with it as an error event); returns how many. */
  abortAll(reason: HttpError): number {
    let n = 0;
    for (const requests of this.sockets.values()) {
      for (const request of requests) {
        if (request.controller.signal.aborted || request.res.writableFinished) continue;
        request.controller.abort(reason);
        n++;
      }
    }
    return n;
  }

  /** Destroys every connection. */
  closeAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}
