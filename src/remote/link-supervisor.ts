/**
 * The state machine behind `Backend.health()`, `waitReady()` and `kick()`, shared by the backends
 * whose link can die (SSH, Docker). The backend notices the loss (a closed stream, unanswered
 * keepalives, a stopped container) and calls `lost`; from then on this class retries the
 * backend's `reconnect` with back-off until it succeeds, a fatal error ends the link, or `close`.
 *
 *     connecting ──started──▶ ready ──lost──▶ reconnecting ──reconnect ok──▶ ready
 *         │failed                                  │fatal error / close
 *         ▼                                        ▼
 *       closed ◀───────────────close────────────── closed
 */
import type { LinkHealth, LinkState } from './backend.ts';
import { TimeoutError, UnreachableError } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';

/** How a backend's link is supervised. */
export interface LinkSupervisorOptions {
  /** The remote as log lines name it ("connection to NAME lost"). */
  name: string;
  /** Makes a new link and resolves once it is usable; `signal` aborts when the supervisor closes. */
  reconnect: (signal: AbortSignal) => Promise<void>;
  /** True for an error after which retrying is pointless (a removed container): the link closes. */
  fatal?: (error: Error) => boolean;
  log?: Logger;
  /** Waits between failed attempts, ms; the last one repeats. Default 1, 2, 4, 8, then 10 s. */
  backoffMs?: readonly number[];
  /** How old the last attempt must be before `kick` starts another at once. Default 1000 ms. */
  kickAfterMs?: number;
}

const DEFAULT_BACKOFF_MS = [1000, 2000, 4000, 8000, 10_000] as const;

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** One backend's link health and its reconnect loop. */
export class LinkSupervisor {
  readonly #options: LinkSupervisorOptions;
  readonly #log: Logger;
  #state: LinkState = 'connecting';
  #since = Date.now();
  #downSince: number | undefined;
  #reconnects = 0;
  #lastError: Error | undefined;
  /** Why the link is closed; what `waitReady` rejects with from then on. */
  #closedBy: Error | undefined;
  readonly #waiters = new Set<Waiter>();
  /** Aborts a running attempt when the supervisor closes. */
  readonly #abort = new AbortController();
  /** Set by `lost` while an attempt runs: the link it is making died before it was adopted. */
  #lostDuringAttempt = false;
  #attempting = false;
  /** When the last attempt ended (ms since the epoch); 0 before the first. */
  #lastAttemptEnd = 0;
  /** Wakes the back-off wait early (kick, close). */
  #wake: { timer: NodeJS.Timeout; due: number; resolve: () => void } | undefined;

  constructor(options: LinkSupervisorOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
  }

  /** The state now. */
  get state(): LinkState {
    return this.#state;
  }

  /** A snapshot for status: state, when it last changed, how long the link has been down. */
  health(): LinkHealth {
    const h: LinkHealth = { state: this.#state, since: iso(this.#since), reconnects: this.#reconnects };
    if (this.#downSince !== undefined) h.downSince = iso(this.#downSince);
    const e = this.#lastError as (Error & { code?: unknown }) | undefined;
    if (e !== undefined) h.lastError = { code: typeof e.code === 'string' ? e.code : 'ERR_UNREACHABLE', message: e.message };
    return h;
  }

  /** The last error recorded (a failed connect, the loss, a failed attempt). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** The first connect succeeded. */
  started(): void {
    if (this.#state === 'connecting') this.#set('ready');
  }

  /** The first connect failed: the link never came up and is not retried. */
  failed(error: Error): void {
    this.#lastError = error;
    this.#finish(error);
  }

  /** The link died: record why, log it, and start reconnecting (once; later calls are ignored). */
  lost(error: Error): void {
    if (this.#state === 'reconnecting' && this.#attempting) this.#lostDuringAttempt = true;
    if (this.#state !== 'ready') return;
    this.#lastError = error;
    this.#downSince = Date.now();
    this.#set('reconnecting');
    this.#log.warn(`connection to ${this.#options.name} lost: ${error.message}`);
    void this.#supervise();
  }

  /**
   * Resolves once the link is ready; at once when it is. Rejects with the reason when it is or
   * becomes closed, and with TimeoutError when `signal` aborts first. Waiting counts as needing
   * the link, so it kicks a waiting reconnect.
   */
  waitReady(signal?: AbortSignal): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(this.#closedBy);
    if (signal?.aborted) return Promise.reject(this.#timeout(signal));
    this.kick();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(this.#timeout(signal!));
      };
      const waiter: Waiter = {
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        reject: error => { signal?.removeEventListener('abort', onAbort); reject(error); },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Someone needs the link while it is down: cut the back-off wait short, so the next attempt
   * starts once the last one is `kickAfterMs` old (at once when it already is).
   */
  kick(): void {
    const wake = this.#wake;
    if (wake === undefined) return;
    const due = this.#lastAttemptEnd + (this.#options.kickAfterMs ?? 1000);
    if (due >= wake.due) return;
    clearTimeout(wake.timer);
    wake.due = due;
    wake.timer = setTimeout(wake.resolve, Math.max(0, due - Date.now()));
  }

  /** Ends supervision: aborts a running attempt, wakes a wait, rejects every waiter. Idempotent. */
  close(reason?: Error): void {
    this.#finish(reason ?? new UnreachableError(`connection to ${this.#options.name} was closed`, { suggestion: 'the mount or command is ending' }));
  }

  async #supervise(): Promise<void> {
    const backoff = this.#options.backoffMs ?? DEFAULT_BACKOFF_MS;
    for (let attempt = 1; this.#state === 'reconnecting'; attempt++) {
      this.#log.info(`reconnecting to ${this.#options.name} (attempt ${attempt})`);
      this.#attempting = true;
      this.#lostDuringAttempt = false;
      try {
        await this.#options.reconnect(this.#abort.signal);
        if (this.#lostDuringAttempt) throw this.#lastError ?? new Error('the new connection closed at once');
        if (this.#state !== 'reconnecting') return;
        const downFor = ((Date.now() - (this.#downSince ?? Date.now())) / 1000).toFixed(1);
        this.#reconnects++;
        this.#downSince = undefined;
        this.#set('ready');
        this.#log.info(`reconnected to ${this.#options.name} after ${downFor}s`);
        return;
      } catch (error) {
        if (this.#state !== 'reconnecting') return;
        const e = error instanceof Error ? error : new Error(String(error));
        this.#lastError = e;
        if (this.#options.fatal?.(e)) {
          this.#log.error(`connection to ${this.#options.name} cannot come back: ${e.message}`);
          this.#finish(e);
          return;
        }
        this.#log.warn(`reconnecting to ${this.#options.name} failed: ${e.message}`);
      } finally {
        this.#attempting = false;
        this.#lastAttemptEnd = Date.now();
      }
      await this.#pause(backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 10_000);
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>(resolve => {
      const done = (): void => {
        if (this.#wake !== undefined) clearTimeout(this.#wake.timer);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = { timer: setTimeout(done, ms), due: Date.now() + ms, resolve: done };
      // Someone may have been waiting all along: honour their need now.
      if (this.#waiters.size > 0) this.kick();
    });
  }

  #set(state: LinkState): void {
    this.#state = state;
    this.#since = Date.now();
    if (state !== 'ready') return;
    for (const w of [...this.#waiters]) w.resolve();
    this.#waiters.clear();
  }

  #finish(reason: Error): void {
    if (this.#state === 'closed') return;
    this.#closedBy = reason;
    this.#set('closed');
    this.#abort.abort(reason);
    this.#wake?.resolve();
    for (const w of [...this.#waiters]) w.reject(reason);
    this.#waiters.clear();
  }

  #timeout(signal: AbortSignal): TimeoutError {
    const last = this.#lastError === undefined ? '' : `; last error: ${this.#lastError.message}`;
    return new TimeoutError(`connection to ${this.#options.name} is ${this.#state}${last}`, {
      cause: signal.reason,
      suggestion: 'the remote is unreachable for now; rmount keeps reconnecting (see rmount status)',
    });
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
