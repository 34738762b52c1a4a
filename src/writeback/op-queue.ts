/**
 * The operations accepted and not yet on the remote, sent continuously, many at once, in
 * dependency order: an operation starts only when no earlier pending one holds the same path, a
 * folder above it or anything below it (a folder is made before what goes in it, a file is put
 * before it is renamed, two changes to one path land in the order they were made). Unrelated
 * files go in parallel.
 */
import type { FileStat } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import type { Journal } from './journal.ts';
import { PathSet } from './path-set.ts';
import { opPaths, type Op } from './records.ts';

export type EntryState = 'queued' | 'running' | 'done' | 'failed' | 'dropped';

/** One pending operation. */
export interface Entry {
  readonly seq: number;
  readonly op: Op;
  /** When it was accepted (ms since the epoch). */
  readonly at: number;
  state: EntryState;
  /**
   * False while a put's file is still open for writing: it is sent at close, when a barrier asks
   * for it, or when it has waited long enough; sending it earlier would send the file twice.
   */
  ready: boolean;
  /** Sends tried so far (a lost link makes a send be tried again). */
  attempts: number;
  /** Not started again before this time (ms) after a lost link. */
  notBefore: number;
  /** Waits behind a refused operation on a related path (set by each scan). */
  blocked: boolean;
  error?: FsError;
  failedAt?: number;
  /** What the remote showed of a put's file right after it, when that came in the same round trip. */
  remoteStat?: FileStat;
}

/** Barriers fail with this when an operation they wait for was refused. */
export class BarrierFailed extends Error {
  constructor(readonly entries: readonly Entry[]) {
    super(`${entries.length} change(s) were refused by the remote`);
  }
}

/** How the queue sends one operation and what it tells its owner. */
export interface QueueHooks {
  /** Sends `entry` to the remote. Rejects with an FsError. */
  apply(entry: Entry): Promise<void>;
  /** `entry` is done, dropped or failed. */
  settled(entry: Entry): void;
  /** True when `error` came from the link rather than the remote, so the send goes again later. */
  transient(error: FsError, entry: Entry): boolean;
  /** A fault of our own bookkeeping (never the remote's): logged, never allowed to end the daemon. */
  internalError(error: unknown): void;
}

/** errno names that mean the link, not the remote, failed: the send is tried again later. */
const TRANSIENT = new Set(['ENOTCONN', 'ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EAGAIN']);
const MAX_BACKOFF_MS = 15_000;

export class OpQueue {
  readonly #journal: Journal;
  readonly #hooks: QueueHooks;
  readonly #maxRunning: number;
  /** Not done or dropped, in the order accepted (a Map keeps insertion order). */
  readonly #pending = new Map<number, Entry>();
  /** Paths of `#pending`, for the fast check when an operation is added. */
  readonly #held = new PathSet();
  readonly #waiters = new Set<() => void>();
  #seq = 0;
  #running = 0;
  #failed = 0;
  #sent = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(journal: Journal, hooks: QueueHooks, maxRunning = 64) {
    this.#journal = journal;
    this.#hooks = hooks;
    this.#maxRunning = maxRunning;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  get running(): number {
    return this.#running;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Pending entries in order. */
  entries(): IterableIterator<Entry> {
    return this.#pending.values();
  }

  /** Accepts `op`: journaled, then started at once when nothing it depends on is pending. */
  add(op: Op, ready = true, at = Date.now()): Entry {
    const entry: Entry = { seq: ++this.#seq, op, at, state: 'queued', ready, attempts: 0, notBefore: 0, blocked: false };
    this.#journal.append({ t: 'op', seq: entry.seq, op, at });
    const paths = opPaths(op);
    const free = !paths.some(p => this.#held.conflicts(p));
    this.#pending.set(entry.seq, entry);
    for (const p of paths) this.#held.add(p);
    // Nothing pending is related (refused ones included): it may go now.
    if (free && ready && !this.#closed && this.#running < this.#maxRunning) this.#start(entry);
    return entry;
  }

  /** Withdraws a queued entry that no longer needs to travel (a file made and removed before it was sent). */
  drop(entry: Entry): void {
    if (entry.state !== 'queued' && entry.state !== 'failed') return;
    if (entry.state === 'failed') this.#failed--;
    entry.state = 'dropped';
    this.#journal.append({ t: 'drop', seq: entry.seq });
    this.#remove(entry);
  }

  /** A put whose file was closed (or that a barrier needs) may go now. */
  ready(entry: Entry): void {
    if (entry.ready) return;
    entry.ready = true;
    this.#pump();
  }

  /** Refused operations go again. */
  retryFailed(): void {
    for (const e of this.#pending.values()) {
      if (e.state !== 'failed') continue;
      e.state = 'queued';
      e.attempts = 0;
      e.notBefore = 0;
      delete e.error;
      this.#failed--;
      this.#journal.append({ t: 'retry', seq: e.seq });
    }
    this.#pump();
  }

  /** Every refused operation. */
  failed(): Entry[] {
    return [...this.#pending.values()].filter(e => e.state === 'failed');
  }

  /**
   * Resolves once every entry pending now that `which` selects is done or dropped; rejects with
   * {@link BarrierFailed} once all that remain were refused or wait behind a refused one.
   */
  async barrier(which: (e: Entry) => boolean = () => true, signal?: AbortSignal): Promise<void> {
    const wanted = [...this.#pending.values()].filter(which);
    for (;;) {
      const left = wanted.filter(e => e.state !== 'done' && e.state !== 'dropped');
      if (left.length === 0) return;
      // A barrier is the reason to send a file still open for writing.
      let woke = false;
      for (const e of left) if (!e.ready) { e.ready = true; woke = true; }
      if (woke) this.#pump();
      if (this.#failed > 0) {
        this.#pump();
        if (left.every(e => e.state === 'failed' || (e.state === 'queued' && e.blocked))) {
          throw new BarrierFailed(left.filter(e => e.state === 'failed').concat(this.failed().filter(f => !left.includes(f))).slice(0, 100));
        }
      }
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          if (signal?.aborted === true) reject(signal.reason);
          else resolve();
        };
        this.#waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Resolves at the next change of any entry. */
  changed(): Promise<void> {
    return new Promise(resolve => {
      const wake = (): void => {
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
    });
  }

  /** Stops starting new sends (the mount is closing; what is pending stays in the journal). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
  }

  #closed = false;

  #remove(entry: Entry): void {
    this.#pending.delete(entry.seq);
    for (const p of opPaths(entry.op)) this.#held.delete(p);
    this.#hooks.settled(entry);
    this.#pump();
    this.#changed();
  }

  #changed(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Starts what may start, in order; marks entries stuck behind a refused one. */
  #pump(): void {
    if (this.#closed) return;
    const now = Date.now();
    const seen = new PathSet();
    const bad = new PathSet();
    let nextWake = Infinity;
    for (const e of this.#pending.values()) {
      const paths = opPaths(e.op);
      if (e.state === 'queued') {
        const waits = paths.some(p => seen.conflicts(p));
        e.blocked = this.#failed > 0 && paths.some(p => bad.conflicts(p));
        if (!waits && e.ready && this.#running < this.#maxRunning) {
          if (e.notBefore > now) nextWake = Math.min(nextWake, e.notBefore);
          else this.#start(e);
        }
      }
      if (this.#running >= this.#maxRunning && this.#failed === 0) break;
      for (const p of paths) {
        seen.add(p);
        if (e.state === 'failed' || e.blocked) bad.add(p);
      }
    }
    if (nextWake !== Infinity && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, Math.max(10, nextWake - now));
    }
  }

  #start(entry: Entry): void {
    entry.state = 'running';
    entry.attempts++;
    this.#running++;
    void this.#hooks.apply(entry).then(() => {
      this.#running--;
      this.#sent++;
      entry.state = 'done';
      this.#journal.append({ t: 'done', seq: entry.seq });
      this.#remove(entry);
    }, (error: unknown) => {
      this.#running--;
      const fsError = error instanceof FsError ? error : new FsError('EIO', entry.op.kind, undefined, { cause: error });
      if ((TRANSIENT.has(fsError.code) || this.#hooks.transient(fsError, entry)) && !this.#closed) {
        // The link, not the remote: the same operation goes again once the link is back.
        entry.state = 'queued';
        entry.notBefore = Date.now() + Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(entry.attempts, 6));
        this.#pump();
        this.#changed();
        return;
      }
      entry.state = 'failed';
      entry.error = fsError;
      entry.failedAt = Date.now();
      this.#failed++;
      this.#journal.append({ t: 'fail', seq: entry.seq, code: fsError.code, message: fsError.message, at: entry.failedAt });
      this.#hooks.settled(entry);
      this.#pump();
      this.#changed();
    }).catch((error: unknown) => this.#hooks.internalError(error));
  }
}
