/**
 * The Docker backend's link: the container, as seen through the engine. A container that stops or
 * restarts makes the link `reconnecting` until it runs again (its state is polled with back-off);
 * a removed container, or an engine whose socket is gone, closes the link for good with the reason,
 * and operations fail at once instead of waiting.
 */
import type Dockerode from 'dockerode';
import type { LinkHealth, LinkState } from '../../remote/backend.ts';
import { StateError, UnreachableError } from '../../remote/errors.ts';
import { LinkSupervisor } from '../../remote/link-supervisor.ts';
import type { Logger } from '../../remote/log.ts';

/** How often a ready link inspects its container, ms. */
const POLL_MS = 5000;

/** How the link is supervised. */
export interface ContainerLinkOptions {
  log?: Logger;
  backoffMs?: readonly number[];
  /** Inspect interval while ready (tests shorten it). */
  pollMs?: number;
}

/** The container found at `start`. */
export interface ContainerTarget {
  /** `docker://name`, for messages. */
  addr: string;
  /** The container name, for suggestions. */
  name: string;
  /** The engine as a message names it ("unix:///var/run/docker.sock"). */
  engine: string;
  container: () => Dockerode.Container;
  /** Its State.StartedAt at `start`, to notice a restart between two looks. */
  startedAt: string;
}

/** Errors after which the container cannot come back (removed, engine gone): marked, not subclassed. */
const FATAL = new WeakSet<Error>();

/** Watches one container and reports its health like a network link. */
export class ContainerLink {
  readonly #options: ContainerLinkOptions;
  readonly #addr: () => string;
  #target: ContainerTarget | undefined;
  #supervisor: LinkSupervisor | undefined;
  #startError: Error | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #startedAt: string | undefined;
  #checking: Promise<void> | undefined;

  /** `addr` names the remote before `start` resolved it. */
  constructor(addr: () => string, options: ContainerLinkOptions = {}) {
    this.#addr = addr;
    this.#options = options;
  }

  /** The container was found running at `start`. */
  started(target: ContainerTarget): void {
    if (this.#closed) return;
    this.#target = target;
    this.#startedAt = target.startedAt;
    const o = this.#options;
    this.#supervisor = new LinkSupervisor({
      name: target.addr,
      reconnect: () => this.#running(),
      fatal: error => FATAL.has(error),
      ...(o.log === undefined ? {} : { log: o.log }),
      ...(o.backoffMs === undefined ? {} : { backoffMs: o.backoffMs }),
    });
    this.#supervisor.started();
    this.#timer = setInterval(() => void this.check(), o.pollMs ?? POLL_MS);
    this.#timer.unref();
  }

  /** `start` failed: nothing to supervise. */
  failed(error: Error): void {
    this.#startError = error;
  }

  get state(): LinkState {
    if (this.#closed) return 'closed';
    return this.#supervisor?.state ?? (this.#startError ? 'closed' : 'connecting');
  }

  get lastError(): Error | undefined {
    return this.#supervisor?.lastError ?? this.#startError;
  }

  health(): LinkHealth {
    if (this.#supervisor) return this.#supervisor.health();
    const h: LinkHealth = { state: this.state, since: new Date().toISOString(), reconnects: 0 };
    const e = this.#startError as (Error & { code?: string }) | undefined;
    if (e) h.lastError = { code: e.code ?? 'ERR_UNREACHABLE', message: e.message };
    return h;
  }

  async waitReady(signal?: AbortSignal): Promise<void> {
    if (!this.#supervisor) throw this.downError();
    return this.#supervisor.waitReady(signal);
  }

  kick(): void {
    this.#supervisor?.kick();
  }

  /** Resolves when the container runs; while it is down, waits as long as `signal` allows, else rejects at once. */
  async use(signal?: AbortSignal): Promise<void> {
    if (this.state === 'ready') return;
    if (signal !== undefined && this.#supervisor && !this.#closed) return this.#supervisor.waitReady(signal);
    this.kick();
    throw this.downError();
  }

  /** Why the container cannot be used now: the fatal reason once closed, else "down, waiting". */
  downError(): Error {
    const last = this.lastError;
    const addr = this.#addr();
    if (this.#closed || !this.#supervisor) {
      return new UnreachableError(`${addr}: not connected`, { cause: last, suggestion: this.#closed ? 'the backend was closed' : 'call start() first' });
    }
    if (this.#supervisor.state === 'closed' && last) return last;
    return new UnreachableError(`${addr} is down; waiting for it to run again${last ? ` (${last.message})` : ''}`, {
      cause: last, suggestion: 'rmount reconnects once the container runs (rmount status shows the link)',
    });
  }

  /**
   * Inspects the container while the link is ready (after a failed exec, and every few seconds):
   * not running, removed, restarted since we last looked, or an engine that stopped answering
   * make the link go down. Never rejects.
   */
  check(): Promise<void> {
    const sup = this.#supervisor;
    if (sup?.state !== 'ready') return Promise.resolve();
    this.#checking ??= this.#inspect().then(
      info => {
        if (info.State.StartedAt !== this.#startedAt) {
          // Restarted between two looks: the exec streams of the old run are gone.
          sup.lost(new StateError(`container ${this.#target!.name} restarted`));
        }
      },
      (error: Error) => sup.lost(error),
    ).finally(() => { this.#checking = undefined; });
    return this.#checking;
  }

  /** Ends the polling and the reconnect loop; waiters are rejected. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#supervisor?.close();
  }

  // One reconnect attempt: the container must run again.
  async #running(): Promise<void> {
    const info = await this.#inspect();
    this.#startedAt = info.State.StartedAt;
  }

  // Inspect, with every way of failing turned into the error the link records.
  async #inspect(): Promise<Dockerode.ContainerInspectInfo> {
    const { name, engine, container } = this.#target!;
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await container().inspect();
    } catch (error) {
      const e = error as { statusCode?: number; code?: string; message?: string };
      if (e.statusCode === 404) {
        throw fatal(new StateError(`container ${name} was removed`, { cause: error, suggestion: 'start a new one and mount again' }));
      }
      // No socket file at all: the engine was uninstalled or its socket moved, not restarting.
      const gone = e.code === 'ENOENT';
      const err = new UnreachableError(`cannot reach the Docker engine at ${engine}: ${e.code ?? e.message ?? String(error)}`, {
        cause: error,
        suggestion: gone ? 'the engine socket is gone; start dockerd and mount again' : 'check that dockerd runs; rmount keeps retrying',
      });
      throw gone ? fatal(err) : err;
    }
    if (!info.State.Running || info.State.Paused) {
      throw new StateError(`container ${name} is not running (state: ${info.State.Status})`, { suggestion: `start it: docker start ${name}` });
    }
    return info;
  }
}

function fatal<E extends Error>(error: E): E {
  FATAL.add(error);
  return error;
}
