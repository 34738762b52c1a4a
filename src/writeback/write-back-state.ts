/**
 * The bookkeeping half of the write-back client: the queue and the journal behind it, staged files
 * by id, which operation last touched each path, unsent bytes, conflicts, and the `WriteBack` face
 * the control socket drives (sync, retry, discard, status). write-back-client.ts adds the FileClient.
 */
import { renameSync } from 'node:fs';
import { canBatch, type FileClient } from '../remote/file-client.ts';
import type { Logger } from '../remote/log.ts';
import { WriteBackFailedError, type Conflict, type FailedOperation, type SyncProgress, type WriteBack, type WriteBackStatus } from '../remote/write-back.ts';
import { applyOp, type ApplyContext } from './apply.ts';
import { Batcher } from './batcher.ts';
import type { Journal } from './journal.ts';
import { BarrierFailed, OpQueue, type Entry } from './op-queue.ts';
import { opPaths, timeFit, type Op, type StagedMeta, type TimeFit } from './records.ts';
import { StagedFile } from './staged-file.ts';

const MAX_CONFLICTS = 100;
/** What a put's handle answers when the link broke under it (reopened elsewhere, or not at all). */
const HANDLE_ERRORS = new Set(['ESTALE', 'EBADF', 'EIO']);

export abstract class WriteBackState implements WriteBack {
  protected readonly queue: OpQueue;
  protected readonly owner: { uid: number; gid: number };
  /** Times as the remote stores them. */
  protected readonly fit: TimeFit;
  readonly #journal: Journal;
  readonly #log: Logger;
  readonly #maxBytes: number;
  readonly #files = new Map<number, StagedFile>();
  /** The latest pending operation on each path; written only by `enqueue` and `#settled`. */
  readonly #lastOn = new Map<string, Entry>();
  /** Unsent bytes each pending put carries, for `writeback_max`. */
  readonly #bytes = new Map<Entry, number>();
  #pendingBytes = 0;
  readonly #conflicts: Conflict[] = [];
  #nextFile = 0;
  readonly #applying: ApplyContext;

  constructor(journal: Journal, log: Logger, maxBytes: number, owner: { uid: number; gid: number }, inner: FileClient, maxRunning: number) {
    this.#journal = journal;
    this.#log = log;
    this.#maxBytes = maxBytes;
    this.owner = owner;
    this.fit = timeFit(inner.capabilities.nanoseconds);
    this.#applying = {
      inner, file: id => this.#files.get(id), conflict: (path, keptAs) => this.#conflict(path, keptAs),
      ...(canBatch(inner) ? { batcher: new Batcher(inner) } : {}),
    };
    this.queue = new OpQueue(journal, {
      apply: entry => this.#apply(entry),
      settled: entry => this.#settled(entry),
      // A link down now (or a handle that broke with it) is not the remote's answer. A handle error
      // may also be a real one: after a few sends it counts as refused.
      transient: (error, entry) => inner.linkUp?.() === false || (HANDLE_ERRORS.has(error.code) && entry.attempts < 4),
      internalError: error => log.error('write-back journal: internal error', error),
    }, maxRunning);
  }

  /** An overlay entry of `path` may be let go: no pending operation touches it now. */
  protected abstract settledPath(path: string): void;
  /** A refused operation was dropped by the user: the overlay stops showing it. */
  protected abstract discarded(entry: Entry): void;
  protected abstract openPutDelayMs(): number;
  /** A barrier began or ended: what the remote makes after it must be seen at once. */
  protected abstract barrierStarted(): void;
  /** A folder made here is on the remote now: it may get names made there. */
  protected abstract folderOnRemote(path: string): void;
  /** A put of `file` is done: it may be let go. */
  protected abstract fileSettled(file: StagedFile): void;
  /** `entry` is on the remote. */
  protected abstract landed(entry: Entry): void;

  /** The latest pending operation on `path`. */
  protected lastOn(path: string): Entry | undefined {
    return this.#lastOn.get(path);
  }

  /** Journals and queues `op`. */
  protected enqueue(op: Op, ready = true, replayed?: { at: number }): Entry {
    const entry = this.queue.add(op, ready, replayed?.at);
    if (replayed !== undefined) entry.attempts = 1;
    for (const p of opPaths(op)) this.#lastOn.set(p, entry);
    return entry;
  }

  /** A new staged file at `path`, journaled. */
  protected newFile(path: string | undefined, meta: StagedMeta, from?: string): StagedFile {
    const id = ++this.#nextFile;
    const dataPath = this.#journal.dataPath(id);
    if (from !== undefined) renameSync(from, dataPath);
    const file = new StagedFile(id, dataPath, path, meta, this.fit, from !== undefined);
    this.#files.set(id, file);
    return file;
  }

  /** Queues a put of `file` at its path; `ready` false while it is still being written. */
  protected queuePut(file: StagedFile, ready: boolean, replayed?: { at: number }): Entry {
    this.journalMeta(file);
    const entry = this.enqueue({ kind: 'put', file: file.id, path: file.path! }, ready, replayed);
    file.queuedPut = entry;
    this.addBytes(entry, file.size);
    if (!ready) {
      // A file kept open for writing (a log) is sent anyway after a while, then again at close.
      setTimeout(() => this.queue.ready(entry), this.openPutDelayMs()).unref();
    }
    return entry;
  }

  protected journalMeta(file: StagedFile): void {
    this.#journal.append({ t: 'file', id: file.id, ...file.meta });
  }

  protected addBytes(entry: Entry, n: number): void {
    if (n <= 0) return;
    this.#bytes.set(entry, (this.#bytes.get(entry) ?? 0) + n);
    this.#pendingBytes += n;
  }

  /** Frees a staged file nothing refers to any more. */
  protected forgetFile(file: StagedFile): void {
    this.#files.delete(file.id);
    file.dispose();
  }

  /** Waits while more unsent bytes are journaled than `writeback_max` allows and sends are under way. */
  async room(): Promise<void> {
    while (this.#pendingBytes > this.#maxBytes) {
      for (const e of this.queue.entries()) if (!e.ready && e.state === 'queued') this.queue.ready(e);
      if (this.queue.running === 0) return;
      await this.queue.changed();
    }
  }

  // ---- WriteBack ----

  async sync(options?: { signal?: AbortSignal; onProgress?: (left: SyncProgress) => void }): Promise<void> {
    this.barrierStarted();
    const onProgress = options?.onProgress;
    const timer = onProgress === undefined ? undefined : setInterval(() => onProgress({ pendingOps: this.queue.pendingCount, pendingBytes: this.#pendingBytes }), 250);
    try {
      await this.queue.barrier(() => true, options?.signal);
      this.barrierStarted();
    } catch (error) {
      if (error instanceof BarrierFailed) throw new WriteBackFailedError(error.entries.map(failedOperation));
      throw error;
    } finally {
      clearInterval(timer);
    }
  }

  async retry(options?: { signal?: AbortSignal }): Promise<void> {
    for (const e of this.queue.failed()) if (e.op.kind === 'put') this.#fileOf(e)?.clearError();
    this.queue.retryFailed();
    await this.sync(options);
  }

  async discard(): Promise<string[]> {
    const paths: string[] = [];
    for (const e of this.queue.failed()) {
      paths.push(e.op.kind === 'rename' ? e.op.to : e.op.path);
      const file = this.#fileOf(e);
      file?.clearError();
      this.queue.drop(e);
      this.discarded(e);
      if (file !== undefined) this.fileSettled(file);
    }
    return paths;
  }

  status(): WriteBackStatus {
    let oldest = 0;
    for (const e of this.queue.entries()) {
      oldest = e.at;
      break;
    }
    return {
      mode: 'on', journal: this.#journal.dir,
      pendingOps: this.queue.pendingCount, pendingBytes: this.#pendingBytes,
      oldestAgeMs: oldest === 0 ? 0 : Math.max(0, Date.now() - oldest),
      inFlight: this.queue.running, sent: this.queue.sent,
      failed: this.queue.failed().map(failedOperation), conflicts: [...this.#conflicts], maxBytes: this.#maxBytes,
    };
  }

  /** Stops sending; the journal stays on disk when something is left in it, for the next mount. */
  protected async closeJournal(): Promise<void> {
    this.queue.close();
    const empty = this.queue.pendingCount === 0;
    if (empty) for (const file of [...this.#files.values()]) this.forgetFile(file);
    await this.#journal.close(empty);
  }

  // ---- replay (src/writeback/replay.ts) ----

  /** Takes over a staged file of a journal a stopped mount left behind. */
  adoptFile(meta: StagedMeta, dataPath: string, path: string): StagedFile {
    return this.newFile(path, meta, dataPath);
  }

  /** Queues an operation of a journal a stopped mount left behind (never sent exclusively: it may have been sent). */
  adoptOp(op: Op, at: number, file?: StagedFile): Entry {
    if (file !== undefined) return this.queuePut(file, true, { at });
    return this.enqueue(op, true, { at });
  }

  // ---- queue hooks ----

  async #apply(entry: Entry): Promise<void> {
    const file = this.#fileOf(entry);
    if (file !== undefined) {
      if (file.queuedPut === entry) file.queuedPut = undefined;
      file.sending++;
    }
    try {
      await applyOp(this.#applying, entry);
    } finally {
      if (file !== undefined) {
        file.sending--;
        file.park();
      }
    }
  }

  #settled(entry: Entry): void {
    const file = this.#fileOf(entry);
    if (entry.state === 'failed') {
      if (file !== undefined) file.error = entry.error;
      this.#log.warn(`the remote refused ${entry.op.kind} ${opPaths(entry.op).join(' → ')}: ${entry.error?.code ?? 'EIO'}; kept in the journal (rmount sync --retry or --discard)`);
      return;
    }
    const bytes = this.#bytes.get(entry) ?? 0;
    this.#bytes.delete(entry);
    this.#pendingBytes -= bytes;
    if (file?.queuedPut === entry) file.queuedPut = undefined;
    if (entry.op.kind === 'mkdir' && entry.state === 'done') this.folderOnRemote(entry.op.path);
    if (entry.state === 'done') this.landed(entry);
    for (const p of opPaths(entry.op)) {
      if (this.#lastOn.get(p) !== entry) continue;
      this.#lastOn.delete(p);
      this.settledPath(p);
    }
    if (file !== undefined) this.fileSettled(file);
    if (this.queue.pendingCount === 0) this.#journal.compact();
  }

  #fileOf(entry: Entry): StagedFile | undefined {
    return entry.op.kind === 'put' ? this.#files.get(entry.op.file) : undefined;
  }

  #conflict(path: string, keptAs: string): void {
    this.#conflicts.push({ path, keptAs, at: new Date().toISOString() });
    if (this.#conflicts.length > MAX_CONFLICTS) this.#conflicts.shift();
    this.#log.warn(`conflict: ${path} changed on the remote while ours was pending; theirs is kept as ${keptAs}`);
  }
}

function failedOperation(e: Entry): FailedOperation {
  return {
    op: e.op.kind, path: e.op.kind === 'rename' ? e.op.to : e.op.path,
    code: e.error?.code ?? 'EIO', message: e.error?.message ?? '', at: new Date(e.failedAt ?? Date.now()).toISOString(),
  };
}
