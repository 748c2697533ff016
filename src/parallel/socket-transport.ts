import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { invariant } from '../errors/engine-error.js';
import { ExchangeTransport, type IncomingMessage, type OutgoingMessage } from './exchange-transport.js';
import { encodeFrame, encodeGoodbye, FrameDecoder } from './frame-decoder.js';
import { DEFAULT_PEER_TIMEOUT_MS, type TransportTimeouts } from './transport.js';
import { TransportError } from './transport-error.js';

export interface SocketTransportOptions extends TransportTimeouts {
  readonly rank: number;
  readonly worldSize: number;
  /** a directory private to this group, where rank r listens on `<dir>/r.sock` until all its peers are connected */
  readonly socketDir: string;
  /** how long to wait for every peer to connect; default peerTimeoutMs */
  readonly connectTimeoutMs?: number;
}

/** the socket path rank `rank` listens on */
export function socketPath(socketDir: string, rank: number): string {
  return join(socketDir, `${rank}.sock`);
}

/** delay between attempts to connect to a rank that is not listening yet */
const CONNECT_RETRY_MS = 10;

interface Waiter {
  readonly dst: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * What the links of one rank share: the group's first failure. A peer whose connection ends
 * without a goodbye (it exited or crashed), or a timeout, fails every recv that is waiting or
 * comes later, whichever peer it waits on; the group is dead.
 */
class Mesh {
  failure: TransportError | undefined;
  readonly links: PeerLink[] = [];

  fail(err: TransportError): void {
    this.failure ??= err;
    for (const link of this.links) link.rejectWaiting(err);
  }
}

/**
 * This rank's end of the connection to one peer, from the moment the socket opens: frames no recv
 * has asked for yet (those that come before the transport exists included), recvs waiting for
 * frames, and whether the peer is gone. On an accepted socket the first frame is the peer's
 * introduction (its rank), which `introduce` vets.
 */
class PeerLink {
  private readonly frames: Buffer[] = [];
  private readonly waiters: Waiter[] = [];
  /** whether the peer said goodbye (closed its transport on purpose) */
  private saidGoodbye = false;
  /** why the peer can send no more, once its socket has closed */
  private goneReason: string | undefined;
  /** performance.now() of the last bytes from the peer */
  lastActivityMs = performance.now();

  constructor(
    readonly socket: Socket,
    private readonly mesh: Mesh,
    private readonly rank: number,
    /** the peer's rank; -1 until an accepted socket's introduction */
    public peer: number,
    private readonly introduce?: (peer: number) => boolean,
  ) {
    mesh.links.push(this);
    const decoder = new FrameDecoder(
      (frame) => this.onFrame(frame),
      () => (this.saidGoodbye = true),
    );
    socket.on('data', (chunk: Buffer) => {
      this.lastActivityMs = performance.now();
      decoder.push(chunk);
    });
    let lastError = '';
    socket.on('error', (err) => (lastError = err.message));
    socket.on('close', () => {
      if (this.peer < 0) return; // never introduced: not a peer
      if (this.saidGoodbye) {
        this.goneReason = 'closed its transport';
        this.rejectWaiting(this.goneError());
        return;
      }
      this.goneReason = lastError ? `lost its connection (${lastError})` : 'exited or crashed (its connection ended without a goodbye)';
      mesh.fail(this.goneError());
    });
  }

  /** Copies the peer's next frame into dst, once it is here. */
  take(dst: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const frame = this.frames.shift();
      if (frame) return this.deliver(frame, { dst, resolve, reject });
      if (this.mesh.failure) return reject(this.mesh.failure);
      if (this.goneReason !== undefined) return reject(this.goneError());
      this.waiters.push({ dst, resolve, reject });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.goneReason !== undefined) return Promise.reject(this.goneError());
    return new Promise((resolve, reject) => {
      this.socket.write(encodeFrame(bytes), (err) => {
        if (err) reject(new TransportError('PEER_FAILED', `rank ${this.rank}: sending to rank ${this.peer} failed (${err.message})`, { cause: err }));
        else resolve();
      });
    });
  }

  /** Says goodbye and ends the connection (what was written before still arrives). */
  close(): void {
    this.socket.end(encodeGoodbye());
  }

  rejectWaiting(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private onFrame(frame: Buffer): void {
    if (this.peer < 0) {
      const introduced = frame.byteLength === 4 ? frame.readUInt32LE(0) : -1;
      if (this.introduce?.(introduced)) this.peer = introduced;
      else this.socket.destroy();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) this.deliver(frame, waiter);
    else this.frames.push(frame);
  }

  private deliver(frame: Buffer, waiter: Waiter): void {
    invariant(frame.byteLength === waiter.dst.byteLength, `rank ${this.rank}: rank ${this.peer} sent ${frame.byteLength} bytes where ${waiter.dst.byteLength} were expected`);
    waiter.dst.set(frame);
    waiter.resolve();
  }

  private goneError(): TransportError {
    return new TransportError('PEER_FAILED', `rank ${this.rank}: rank ${this.peer} ${this.goneReason}`);
  }
}

/**
 * The transport between processes on one host: one Unix domain socket per pair of ranks (rank i
 * connects to every rank below it, introducing itself with a first frame holding its rank), and
 * every message one length-prefixed frame (src/parallel/frame-decoder.ts): one copy into the
 * frame on send, one out of it on receive.
 *
 * close() sends each peer a goodbye before it ends the connection: a peer that closed its
 * transport fails the recvs from it that the frames it sent cannot serve; a peer whose connection
 * ends without one (it exited or crashed) fails every recv that waits, whoever it waits on (the
 * group is dead). A recv waits at most peerTimeoutMs without bytes from the peers it waits on.
 */
export class SocketTransport extends ExchangeTransport {
  readonly kind = 'socket' as const;

  private constructor(
    rank: number,
    worldSize: number,
    /** [worldSize] the link to each peer; undefined at this rank */
    private readonly links: readonly (PeerLink | undefined)[],
    private readonly mesh: Mesh,
    private readonly peerTimeoutMs: number,
  ) {
    super(rank, worldSize);
  }

  /** Listens, connects to every peer and waits until each is connected, or rejects with PEER_TIMEOUT. */
  static async connect(options: SocketTransportOptions): Promise<SocketTransport> {
    const { rank, worldSize, socketDir } = options;
    const peerTimeoutMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
    const mesh = new Mesh();
    const links = await connectMesh(mesh, rank, worldSize, socketDir, options.connectTimeoutMs ?? peerTimeoutMs);
    return new SocketTransport(rank, worldSize, links, mesh, peerTimeoutMs);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const link of this.links) link?.close();
  }

  protected exchange(sends: readonly OutgoingMessage[], recvs: readonly IncomingMessage[]): Promise<void> {
    const started = performance.now();
    const waited = [...new Set(recvs.map((m) => m.from))];
    const pending = [...sends.map((m) => this.links[m.to]!.write(m.bytes)), ...recvs.map((m) => this.links[m.from]!.take(m.bytes))];
    if (waited.length === 0) return Promise.all(pending).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      const check = (): void => {
        const stalledMs = performance.now() - Math.max(started, ...waited.map((p) => this.links[p]!.lastActivityMs));
        if (stalledMs < this.peerTimeoutMs) {
          timer = setTimeout(check, this.peerTimeoutMs - stalledMs);
          return;
        }
        const err = new TransportError('PEER_TIMEOUT', `rank ${this.rank}: no bytes from rank ${waited.join(', ')} for ${Math.round(stalledMs)} ms`);
        this.mesh.fail(err);
        reject(err);
      };
      timer = setTimeout(check, this.peerTimeoutMs);
    });
    return Promise.race([Promise.all(pending), watchdog]).then(
      () => clearTimeout(timer),
      (err: unknown) => {
        clearTimeout(timer);
        throw err;
      },
    );
  }
}

/**
 * One link per peer ([worldSize], undefined at `rank`): listens on socketPath(rank), connects to
 * every lower rank (retrying while it is not listening yet) and introduces itself with a first
 * frame holding its rank; accepts every higher rank and learns its rank from its first frame.
 */
async function connectMesh(mesh: Mesh, rank: number, worldSize: number, socketDir: string, timeoutMs: number): Promise<(PeerLink | undefined)[]> {
  const links: (PeerLink | undefined)[] = new Array(worldSize).fill(undefined);
  const path = socketPath(socketDir, rank);
  const deadline = performance.now() + timeoutMs;
  const opened: Socket[] = [];
  let server: Server | undefined;
  try {
    const accepted = rank < worldSize - 1 ? acceptHigherRanks(mesh, rank, worldSize, path, deadline, opened, (s) => (server = s)) : Promise.resolve([]);
    const connected = Promise.all(Array.from({ length: rank }, (_, peer) => connectTo(mesh, rank, peer, socketPath(socketDir, peer), deadline, opened)));
    for (const link of [...(await connected), ...(await accepted)]) links[link.peer] = link;
    return links;
  } catch (err) {
    for (const s of opened) s.destroy();
    throw err;
  } finally {
    server?.close();
    rmSync(path, { force: true });
  }
}

function remainingMs(deadline: number): number {
  return Math.max(0, deadline - performance.now());
}

async function connectTo(mesh: Mesh, rank: number, peer: number, path: string, deadline: number, opened: Socket[]): Promise<PeerLink> {
  for (;;) {
    const socket = await new Promise<Socket | undefined>((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) => {
        s.destroy();
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
        else reject(new TransportError('PEER_FAILED', `rank ${rank}: connecting to rank ${peer} failed (${err.message})`, { cause: err }));
      });
    });
    if (socket) {
      opened.push(socket);
      const link = new PeerLink(socket, mesh, rank, peer);
      socket.write(encodeFrame(new Uint8Array(new Uint32Array([rank]).buffer)));
      return link;
    }
    if (remainingMs(deadline) === 0) throw new TransportError('PEER_TIMEOUT', `rank ${rank}: rank ${peer} was not listening in time`);
    await new Promise((r) => setTimeout(r, Math.min(CONNECT_RETRY_MS, remainingMs(deadline))));
  }
}

function acceptHigherRanks(mesh: Mesh, rank: number, worldSize: number, path: string, deadline: number, opened: Socket[], onServer: (server: Server) => void): Promise<PeerLink[]> {
  const expected = worldSize - 1 - rank;
  return new Promise((resolve, reject) => {
    const found = new Map<number, PeerLink>();
    const timer = setTimeout(
      () => reject(new TransportError('PEER_TIMEOUT', `rank ${rank}: only ${found.size} of the ${expected} higher ranks connected in time`)),
      remainingMs(deadline),
    );
    const server = createServer((socket) => {
      opened.push(socket);
      const link: PeerLink = new PeerLink(socket, mesh, rank, -1, (peer) => {
        if (!Number.isInteger(peer) || peer <= rank || peer >= worldSize || found.has(peer)) return false;
        found.set(peer, link);
        if (found.size === expected) {
          clearTimeout(timer);
          resolve([...found.values()]);
        }
        return true;
      });
    });
    server.on('error', (err) => {
      clearTimeout(timer);
      reject(new TransportError('PEER_FAILED', `rank ${rank}: cannot listen on ${path} (${err.message})`, { cause: err }));
    });
    rmSync(path, { force: true });
    server.listen(path);
    onServer(server);
  });
}
