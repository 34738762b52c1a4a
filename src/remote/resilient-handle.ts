/**
 * The FileHandle that `ReconnectingFileClient.open` returns: it outlives the client it was opened
 * on. When a call fails because that client's transport is gone, it waits for the next client,
 * carries the open file over to it (the same remote handle when the new client resumed the
 * session, else the file reopened by path) and sends the call again (see `ResilientHandle`).
 */
import { canFlush, type FileClient, type FileHandle, type FileStat, type OpenFlags, type SetAttr } from './file-client.ts';
import { FsError, isFsError } from './fs-error.ts';

/** What a resilient handle needs from the client that made it. */
export interface HandleHome {
  /** The client to use now; waits for a new one while the transport is down. @throws FsError ENOTCONN. */
  current(op: string): Promise<FileClient>;
  /** True when `error` of a call on `client` means its transport is gone (it is marked so). */
  lost(client: FileClient, error: unknown): boolean;
  /** True once `client`'s transport is known to be gone. */
  gone(client: FileClient): boolean;
  /** The handle was closed: stop tracking its path. */
  forget(handle: ResilientHandle): void;
  /** The current client when its transport is up, without waiting for one. */
  now(): FileClient | undefined;
}

/** `flags` for opening the same file again: what it is, never what making it did (create, excl, trunc). */
export function reopenFlags(flags: OpenFlags): OpenFlags {
  const again: OpenFlags = { read: flags.read, write: flags.write };
  if (flags.append === true) again.append = true;
  return again;
}

/**
 * An open file that survives a new client. When the new client resumed the server's session (see
 * `FileClient.adopt`) the handle carries on there as it is, whatever happened to the file's name
 * meanwhile. Otherwise it is reopened by path: the handle remembers its path (renames made through
 * the client move it, see `moved`) and its flags. A call that fails because the transport of the
 * client it is open on died is sent again, once per new client, on the file carried over. So a
 * write that was in flight when the link died is sent twice: positional writes are idempotent.
 * An append-mode write in flight may land twice (the first copy may have reached the disk before
 * the link died, and nothing can tell); that is the lesser evil, since not sending it again would
 * drop bytes a program was about to be told were written, and a program that appends concurrently
 * from several places cannot rely on exact contents over a network link anyway.
 *
 * A reopen that fails for another reason than the transport (the file was removed on the remote
 * meanwhile: ENOENT; a name removed or replaced through the client: ESTALE, since the path now
 * leads elsewhere) makes every later call fail with that errno; nothing silently succeeds.
 */
export class ResilientHandle implements FileHandle {
  readonly #home: HandleHome;
  readonly #flags: OpenFlags;
  /** Written by the constructor, `moved` and nothing else. */
  #path: string;
  /** The client `#inner` belongs to; both written only by `#reopen`. */
  #client: FileClient;
  #inner: FileHandle;
  /** The reopen in progress, shared by every call that found the transport gone. */
  #reopening: Promise<void> | undefined;
  /** Calls made so far: a call's number is its place when calls resume after a reopen. */
  #calls = 0;
  /**
   * Calls waiting for the reopen in progress. They resume in the order they were made, not the
   * order their failures came in, so the remote still sees them in order (see `inOrder`): a
   * read sent right behind a write sees it.
   */
  #waiting: Array<{ seq: number; resume: () => void; fail: (error: unknown) => void }> = [];
  /** Why the file cannot be reached any more; once set, every call throws it. */
  #failure: FsError | undefined;
  /** The name the handle was opened by was removed or replaced through the client. */
  #orphan = false;
  #closed = false;
  /** Present when the first handle gathers writes (see `FileHandle.flush`). */
  readonly flush?: () => Promise<void>;

  constructor(home: HandleHome, client: FileClient, inner: FileHandle, path: string, flags: OpenFlags) {
    this.#home = home;
    this.#client = client;
    this.#inner = inner;
    this.#path = path;
    this.#flags = reopenFlags(flags);
    if (canFlush(inner)) this.flush = () => this.#run('flush', h => (canFlush(h) ? h.flush() : Promise.resolve()));
  }

  /**
   * As the handle underneath: a call finding the transport gone waits for the reopen, and calls
   * resume in the order they were made (they wait on one shared reopen).
   */
  get inOrder(): boolean | undefined {
    return this.#inner.inOrder;
  }

  /** Where the file is now, as far as this client knows (renames through it are followed). */
  get path(): string {
    return this.#path;
  }

  /** @internal The file was renamed to `path` through the client. */
  moved(path: string): void {
    this.#path = path;
  }

  /** @internal Its name was removed or replaced through the client: reopening by path would reach another file. */
  orphaned(): void {
    this.#orphan = true;
  }

  /** @internal The handle on `client` underneath, for calls that take two handles of one client (copyData). */
  innerOn(client: FileClient, op: string): FileHandle {
    if (this.#closed || this.#client !== client) throw new FsError('EBADF', op, this.#path);
    return this.#inner;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#run('read', h => h.read(buffer, offset, length, position));
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    return this.#run('write', h => h.write(buffer, offset, length, position));
  }

  stat(): Promise<FileStat> {
    return this.#run('stat', h => h.stat());
  }

  setattr(attrs: SetAttr): Promise<void> {
    return this.#run('setattr', h => h.setattr(attrs));
  }

  /** Syncs on the current handle: fsync flushes the file, whichever descriptor wrote its data. */
  sync(): Promise<void> {
    return this.#run('sync', h => h.sync());
  }

  /**
   * Closes the remote handle. One whose client died is closed on the current client when that
   * resumed its session (else it would stay open there until the session ends), and otherwise
   * only forgotten: nothing is open remotely any more.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#home.forget(this);
    await this.#reopening?.catch(() => undefined);
    const client = this.#client;
    if (this.#failure !== undefined) return;
    if (this.#home.gone(client)) {
      await this.#home.now()?.adopt?.(this.#inner)?.close().catch(() => undefined);
      return;
    }
    try {
      await this.#inner.close();
    } catch (error) {
      if (!this.#home.lost(client, error)) throw error;
    }
  }

  async #run<T>(op: string, fn: (h: FileHandle) => Promise<T>): Promise<T> {
    const seq = this.#calls++;
    for (;;) {
      if (this.#closed) throw new FsError('EBADF', op, this.#path);
      if (this.#failure !== undefined) throw this.#failure;
      const client = this.#client;
      if (!this.#home.gone(client)) {
        try {
          return await fn(this.#inner);
        } catch (error) {
          if (this.#closed || !this.#home.lost(client, error)) throw error;
        }
      }
      await this.#reopen(client, op, seq);
    }
  }

  /**
   * Reopens the file on a client newer than `dead` (once, whoever asks), and resolves in call
   * `seq`'s turn (see {@link #waiting}). @throws FsError
   */
  async #reopen(dead: FileClient, op: string, seq: number): Promise<void> {
    if (this.#client !== dead) return;
    const turn = new Promise<void>((resume, fail) => { this.#waiting.push({ seq, resume, fail }); });
    this.#reopening ??= this.#reopenOnce(dead, op);
    await turn;
  }

  /** The reopen itself; when it ends, every waiting call is resumed (or failed) in the order the calls were made. */
  #reopenOnce(dead: FileClient, op: string): Promise<void> {
    const settled = (error: unknown, failed: boolean): void => {
      this.#reopening = undefined;
      const waiting = this.#waiting.sort((a, b) => a.seq - b.seq);
      this.#waiting = [];
      for (const w of waiting) {
        if (failed) w.fail(error);
        else w.resume();
      }
    };
    return (async () => {
      let previous = dead;
      for (;;) {
        const next = await this.#home.current(op);
        if (next === previous) throw new FsError('ENOTCONN', op, this.#path);
        const same = next.adopt?.(this.#inner);
        if (same !== undefined) {
          this.#inner = same;
          this.#client = next;
          return;
        }
        if (this.#orphan) throw (this.#failure = new FsError('ESTALE', op, this.#path));
        try {
          this.#inner = await next.open(this.#path, this.#flags);
          this.#client = next;
          return;
        } catch (error) {
          // The new client died too: wait for the one after it.
          if (this.#home.lost(next, error)) {
            previous = next;
            continue;
          }
          throw (this.#failure = new FsError(isFsError(error) ? error.code : 'EIO', op, this.#path, { cause: error }));
        }
      }
    })().then(() => settled(undefined, false), error => settled(error, true));
  }
}
