/**
 * One port forward at work: a local listener whose connections are joined to streams the remote
 * dials (ssh -L), or a remote listener whose accepted streams are joined to local connections
 * (ssh -R). Every connection is its own stream with its own flow control, so one stalled
 * connection never holds up another. A connection the far side refuses is counted and logged,
 * and the near side is reset (RST), never left hanging.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { Logger } from '../remote/log.ts';
import { endpointAddress, formatEndpoint, type Endpoint, type ForwardSpec } from './forward-spec.ts';
import { portOwner } from './port-owner.ts';
import { SessionError } from './errors.ts';

/** A listener on the remote. */
export interface RemoteListener {
  /** The address it got (a port picked for `:0`). */
  address: string;
  /** Resolves when it is gone with its connection (it must then be made again). */
  closed: Promise<void>;
  close(): Promise<void>;
}

/** What forwards need of the connection to the remote. */
export interface ForwardTransport {
  /** A stream connected from the remote to `target`. @throws SessionError (ERR_DIAL_FAILED, ERR_HOST_LOST). */
  dial(target: Endpoint): Promise<Duplex>;
  /** Listens on the remote; each accepted connection comes to `onStream`. */
  listen(at: Endpoint, onStream: (stream: Duplex, from: string) => void): Promise<RemoteListener>;
  /** TCP ports listening on the remote (for --auto). */
  ports(): Promise<{ supported: boolean; ports: { port: number; address: string; family: string }[] }>;
}

/** A forward as `forward ls` shows it. */
export interface ForwardInfo {
  id: string;
  direction: 'local' | 'remote';
  spec: string;
  /** Where it listens (the real port when one was picked). */
  listen: string;
  target: string;
  /** Made by --auto for a port seen listening on the remote. */
  auto: boolean;
  state: 'starting' | 'listening' | 'retrying' | 'closed';
  /** Connections open now, and since the start. */
  active: number;
  connections: number;
  /** Connections the far side refused or that broke. */
  failures: number;
  lastError?: string;
}

/**
 * Joins two connections both ways with half-close (an end on one ends the other's writing). A
 * reset or error on either resets the other.
 */
export function join(local: Socket, remote: Duplex, done: (error?: Error) => void): void {
  let over = false;
  const finish = (error?: Error): void => {
    if (over) return;
    over = true;
    done(error);
  };
  local.pipe(remote);
  remote.pipe(local);
  local.on('error', error => { remote.destroy(); finish(error); });
  remote.on('error', error => { local.resetAndDestroy(); finish(error); });
  remote.on('reset', (reason: string) => { local.resetAndDestroy(); finish(new Error(reason)); });
  local.on('close', () => { if (!remote.destroyed && !remote.writableFinished) remote.destroy(); finish(); });
  remote.on('close', () => finish());
}

/** Shared bookkeeping of one forward. */
abstract class Forward {
  readonly info: ForwardInfo;
  protected readonly log: Logger;
  protected readonly transport: ForwardTransport;
  protected closed = false;

  constructor(id: string, spec: ForwardSpec, transport: ForwardTransport, log: Logger, auto: boolean) {
    this.info = {
      id, direction: spec.direction, spec: spec.text, listen: formatEndpoint(spec.listen), target: formatEndpoint(spec.target),
      auto, state: 'starting', active: 0, connections: 0, failures: 0,
    };
    this.transport = transport;
    this.log = log;
  }

  protected opened(): void {
    this.info.active++;
    this.info.connections++;
  }

  protected ended(error?: Error): void {
    this.info.active--;
    if (error !== undefined) this.failed(error);
  }

  protected failed(error: Error): void {
    this.info.failures++;
    this.info.lastError = error.message;
    this.log.info(`forward ${this.info.id} (${this.info.spec}): a connection failed: ${error.message}`);
  }

  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
}

/** ssh -L: listens here, dials on the remote. */
export class LocalForward extends Forward {
  readonly #listen: Endpoint;
  readonly #target: Endpoint;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(id: string, spec: ForwardSpec, transport: ForwardTransport, log: Logger, auto = false) {
    super(id, spec, transport, log, auto);
    this.#listen = spec.listen;
    this.#target = spec.target;
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, socket => this.#accept(socket));
  }

  /** The local TCP port it listens on (0 for a socket path). */
  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  async start(): Promise<void> {
    const l = this.#listen;
    try {
      await this.#bind();
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE' && l.kind === 'unix' && await staleSocket(l.path)) {
        await unlink(l.path);
        await this.#bind();
      } else if (e.code === 'EADDRINUSE') {
        const owner = l.kind === 'tcp' ? await portOwner(l.port) : undefined;
        throw new SessionError('ERR_ADDRESS_IN_USE', `${formatEndpoint(l)} is already in use${owner === undefined ? '' : ` by ${owner}`}`, {
          suggestion: 'pick another local port (LPORT), or stop what listens there',
        });
      } else {
        throw new SessionError('ERR_LISTEN_FAILED', `cannot listen on ${formatEndpoint(l)}: ${e.message}`, { suggestion: 'check the address and your rights to it' });
      }
    }
    if (l.kind === 'tcp') this.info.listen = endpointAddress({ ...l, port: this.port });
    this.info.state = 'listening';
  }

  #bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      const done = (): void => { this.#server.off('error', reject); resolve(); };
      if (this.#listen.kind === 'unix') this.#server.listen(this.#listen.path, done);
      else this.#server.listen({ host: this.#listen.host, port: this.#listen.port, exclusive: true }, done);
    });
  }

  #accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    this.opened();
    this.transport.dial(this.#target).then(stream => {
      join(socket, stream, error => this.ended(error));
      socket.resume();
    }, (error: Error) => {
      socket.resetAndDestroy();
      this.ended(error);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.info.state = 'closed';
    const done = new Promise<void>(resolve => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await done;
  }
}

/** True when `path` is a socket nobody listens on (left by a process that died). */
function staleSocket(path: string): Promise<boolean> {
  return new Promise(resolve => {
    const probe = netConnect(path);
    probe.once('connect', () => { probe.destroy(); resolve(false); });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** Waits between attempts to listen again on the remote after its connection was lost. */
const RELISTEN_MS = [0, 1000, 2000, 5000];

/** ssh -R: listens on the remote, connects here. The remote listener is made again after a lost connection. */
export class RemoteForward extends Forward {
  readonly #listen: Endpoint;
  readonly #target: Endpoint;
  #listener: RemoteListener | undefined;
  readonly #locals = new Set<Socket>();

  constructor(id: string, spec: ForwardSpec, transport: ForwardTransport, log: Logger) {
    super(id, spec, transport, log, false);
    this.#listen = spec.listen;
    this.#target = spec.target;
  }

  /** The first listen must work (a bad address is the user's to fix); later ones retry. */
  async start(): Promise<void> {
    await this.#listenOnce();
  }

  async #listenOnce(): Promise<void> {
    const listener = await this.transport.listen(this.#listen, (stream, from) => this.#accept(stream, from));
    if (this.closed) {
      await listener.close().catch(() => {});
      return;
    }
    this.#listener = listener;
    this.info.listen = listener.address;
    this.info.state = 'listening';
    void listener.closed.then(() => this.#relisten());
  }

  async #relisten(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      this.info.state = 'retrying';
      await new Promise(resolve => setTimeout(resolve, RELISTEN_MS[Math.min(attempt, RELISTEN_MS.length - 1)]).unref());
      if (this.closed) return;
      try {
        await this.#listenOnce();
        this.log.info(`forward ${this.info.id} (${this.info.spec}): listening on the remote again at ${this.info.listen}`);
        return;
      } catch (error) {
        this.info.lastError = (error as Error).message;
      }
    }
  }

  #accept(stream: Duplex, from: string): void {
    if (this.closed) {
      stream.destroy();
      return;
    }
    this.opened();
    const t = this.#target;
    const local = t.kind === 'unix' ? netConnect({ path: t.path, allowHalfOpen: true }) : netConnect({ host: t.host, port: t.port, allowHalfOpen: true });
    this.#locals.add(local);
    local.on('close', () => this.#locals.delete(local));
    let connected = false;
    local.once('connect', () => {
      connected = true;
      join(local, stream, error => this.ended(error));
    });
    local.once('error', error => {
      if (connected) return; // join's own handlers have it
      stream.destroy();
      this.ended(new Error(`${formatEndpoint(t)} (for ${from}): ${error.message}`));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.info.state = 'closed';
    for (const s of this.#locals) s.destroy();
    await this.#listener?.close().catch(() => {});
  }
}
