/**
 * The SSH backend's connection and its supervisor. A dead link is noticed at once when the TCP
 * connection closes, and within ServerAliveInterval × ServerAliveCountMax when packets stop
 * flowing (ssh2's keepalive; 15 s × 3 when ssh_config leaves it unset, because OpenSSH's default
 * of "never" would leave a mount hanging on a dead link forever). Every reconnect goes through
 * connectSsh again, host-key check included: a key that changed meanwhile is refused.
 */
import type { LinkHealth } from '../../remote/backend.ts';
import { TimeoutError, UnreachableError } from '../../remote/errors.ts';
import { LinkSupervisor } from '../../remote/link-supervisor.ts';
import type { Logger } from '../../remote/log.ts';
import type { ConnectOptions, SshConnection } from './connect.ts';

/** ServerAliveInterval when ssh_config sets none, in seconds. */
export const DEFAULT_SERVER_ALIVE_INTERVAL_S = 15;
/** How long close() waits for the server to acknowledge the disconnect. */
const CLOSE_GRACE_MS = 2000;

/** One connection the link made; `dead` once it closed or failed. */
export interface LinkConnection {
  readonly connection: SshConnection;
  dead: boolean;
}

/** What the link needs: how to connect, and whom to tell. */
export interface SshLinkOptions {
  /** `user@host:port`, for messages. */
  addr: string;
  /** Connects once; called for the first connect and for every reconnect. */
  connect: (signal: AbortSignal | undefined, first: boolean) => Promise<SshConnection>;
  log?: Logger;
  /** Back-off between failed reconnects (tests shorten it). */
  backoffMs?: readonly number[];
}

/** The current SSH connection of a backend, replaced whenever it dies. */
export class SshLink {
  readonly #options: SshLinkOptions;
  #supervisor: LinkSupervisor;
  #current: LinkConnection | undefined;
  #closed = false;

  constructor(options: SshLinkOptions) {
    this.#options = options;
    this.#supervisor = this.#newSupervisor();
  }

  #newSupervisor(): LinkSupervisor {
    const o = this.#options;
    return new LinkSupervisor({
      name: o.addr,
      reconnect: signal => this.#connect(signal, false).then(() => undefined),
      ...(o.log === undefined ? {} : { log: o.log }),
      ...(o.backoffMs === undefined ? {} : { backoffMs: o.backoffMs }),
    });
  }

  /** The first connect; a failure closes the link (`start` may be called again). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw this.downError();
    if (this.#supervisor.state === 'closed') this.#supervisor = this.#newSupervisor();
    try {
      await this.#connect(signal, true);
    } catch (error) {
      this.#supervisor.failed(error as Error);
      throw error;
    }
    this.#supervisor.started();
  }

  get ready(): boolean {
    return this.#supervisor.state === 'ready' && this.#current !== undefined && !this.#current.dead;
  }

  /** The connection that was used, for `route` (jump hosts) after it is gone too. */
  get connection(): SshConnection | undefined {
    return this.#current?.connection;
  }

  get lastError(): Error | undefined {
    return this.#supervisor.lastError;
  }

  health(): LinkHealth {
    return this.#supervisor.health();
  }

  waitReady(signal?: AbortSignal): Promise<void> {
    return this.#supervisor.waitReady(signal);
  }

  kick(): void {
    this.#supervisor.kick();
  }

  /**
   * The live connection. Without `signal` it throws at once when the link is down (and asks for
   * a reconnect); with one it waits for the link, rejecting with TimeoutError when `signal` aborts.
   */
  async use(signal?: AbortSignal): Promise<LinkConnection> {
    if (!this.ready && signal !== undefined) await this.#supervisor.waitReady(signal);
    const current = this.#current;
    if (current !== undefined && !current.dead && this.#supervisor.state === 'ready') return current;
    throw this.downError();
  }

  /** Why the link cannot be used right now, as the error an operation rejects with. */
  downError(): Error {
    const state = this.#supervisor.state;
    const last = this.#supervisor.lastError;
    if (this.#closed || state === 'closed') {
      return new UnreachableError(`${this.#options.addr}: not connected`, { cause: last, suggestion: this.#closed ? 'the backend was closed' : 'call start() first' });
    }
    this.#supervisor.kick();
    if (state === 'connecting') {
      return new UnreachableError(`${this.#options.addr}: not connected`, { cause: last, suggestion: 'call start() first' });
    }
    return new UnreachableError(`connection to ${this.#options.addr} lost; reconnecting${last === undefined ? '' : ` (${last.message})`}`, {
      cause: last,
      suggestion: 'rmount reconnects by itself; try again in a moment (rmount status shows the link)',
    });
  }

  /** Stops reconnecting: a running attempt is aborted and every waiter rejected. The connection stays. */
  stopReconnecting(): void {
    this.#closed = true;
    this.#supervisor.close();
  }

  /** Stops supervising and ends the connection and its jump hosts; never waits for a reconnect. */
  async close(): Promise<void> {
    this.stopReconnecting();
    const current = this.#current;
    if (current === undefined || current.dead) return;
    current.dead = true;
    const { client, jumps } = current.connection;
    const ended = new Promise<void>(resolve => client.once('close', () => resolve()));
    client.end();
    // A server that never answers the disconnect (a blackholed link) must not hold close() up.
    await Promise.race([ended, new Promise(resolve => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
    client.destroy();
    for (const jump of [...jumps].reverse()) jump.destroy();
  }

  async #connect(signal: AbortSignal | undefined, first: boolean): Promise<LinkConnection> {
    const connection = await this.#options.connect(signal, first);
    const record: LinkConnection = { connection, dead: false };
    if (this.#closed) {
      destroy(connection);
      throw new UnreachableError(`${this.#options.addr}: the backend was closed`);
    }
    this.#current = record;
    const { client } = connection;
    client.on('error', (error: Error) => this.#lost(record, error));
    client.on('close', () => this.#lost(record));
    return record;
  }

  // The connection ended: mark it first (its channels close right after and ask), then tell the
  // supervisor, which reconnects.
  #lost(record: LinkConnection, cause?: Error): void {
    if (record.dead) return;
    record.dead = true;
    destroy(record.connection);
    if (this.#closed || record !== this.#current) return;
    const timeout = (cause as { level?: string } | undefined)?.level === 'client-timeout';
    const Err = timeout ? TimeoutError : UnreachableError;
    const what = timeout ? 'the server stopped answering keepalives' : cause?.message ?? 'the connection closed';
    this.#supervisor.lost(new Err(`connection to ${this.#options.addr} lost: ${what}`, {
      cause,
      suggestion: timeout ? 'check the network; rmount keeps reconnecting' : 'rmount keeps reconnecting; if it keeps happening, check the server\'s logs and ServerAliveInterval',
    }));
  }
}

function destroy(connection: SshConnection): void {
  connection.client.on('error', () => {});
  connection.client.destroy();
  for (const jump of [...connection.jumps].reverse()) jump.destroy();
}

/** The keepalive settings for ssh2: ServerAliveInterval (default 15 s) and ServerAliveCountMax. */
export function keepAliveOf(config: { serverAliveInterval: number | undefined; serverAliveCountMax: number }, overrideMs?: number): Pick<ConnectOptions, 'keepAliveIntervalMs' | 'keepAliveCountMax'> {
  return {
    keepAliveIntervalMs: overrideMs ?? (config.serverAliveInterval ?? DEFAULT_SERVER_ALIVE_INTERVAL_S) * 1000,
    keepAliveCountMax: config.serverAliveCountMax,
  };
}
