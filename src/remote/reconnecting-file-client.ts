/**
 * A FileClient that replaces a client whose transport died. Once the current client's `closed`
 * resolves (the agent was killed, the channel closed) or a call on it fails with ENOTCONN or
 * ECONNABORTED, a new client is made through `connect`: at once, by the next call that needs one,
 * and by `linkUp()` at most once a second while none could be made. Calls wait for it (the VFS
 * bounds each by the mount's timeout); `connect` is expected to wait for the link itself.
 *
 * Open handles survive: each is a {@link ResilientHandle} that carries its file over to the new
 * client (the same remote handle when that client resumed the session, else reopened by path) and
 * sends the failed call again. Renames and unlinks made through this client are
 * followed, so a handle reopens under its new name and never reaches another file by an old one.
 * Path operations that are safe to repeat (lookups, listings, setattr, a non-exclusive open) are
 * sent again on the new client when the link died under them; mutations are not (the first try
 * may have landed) and fail with the transport's error. Watch subscriptions are renewed on the new
 * client and get one rescan event. A client without `closed` is kept for good.
 */
import {
  batchOpPath, canBatch, canCopyData, canMknod, canPutFile, canReadFiles, canSubtree, canWatch, reportsClose,
  type BatchOp, type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat, type OpenFlags,
  type PutFileOptions, type RenameOptions, type SetAttr, type SetAttrOptions, type SmallFileRead, type StatFs, type Subtree,
  type SubtreeBounds, type WatchEvent, type WatchSubscription,
} from './file-client.ts';
import { FsError, isFsError } from './fs-error.ts';
import { ResilientHandle, type HandleHome } from './resilient-handle.ts';

interface Watcher {
  root: string;
  listener: (events: WatchEvent[]) => void;
  sub: WatchSubscription | undefined;
  closed: boolean;
}

/** Least time between two attempts started by `linkUp()` while the transport is down. */
const RETRY_INTERVAL_MS = 1000;

/** Wraps a client made by `connect` and makes a new one whenever the current one's transport is gone. */
export class ReconnectingFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  /** Written only by `#adopt`. */
  #client!: FileClient;
  /** True once `#client`'s transport is gone; written by `#adopt`, its `closed` callback and `#lost`. */
  #dead = false;
  /** Clients whose transport is known gone (current or earlier). */
  readonly #gone = new WeakSet<FileClient>();
  #next: Promise<FileClient> | undefined;
  /** `Date.now()` when the last attempt to make a client started. */
  #lastTry = 0;
  #closed = false;
  readonly #connect: () => Promise<FileClient>;
  readonly #watchers = new Set<Watcher>();
  readonly #handles = new Set<ResilientHandle>();
  readonly #home: HandleHome = {
    current: op => this.#current(op),
    lost: (client, error) => this.#lost(client, error),
    gone: client => this.#gone.has(client),
    forget: handle => { this.#handles.delete(handle); },
    now: () => (this.#dead || this.#closed ? undefined : this.#client),
  };

  private constructor(first: FileClient, connect: () => Promise<FileClient>) {
    this.#connect = connect;
    this.capabilities = first.capabilities;
    this.#adopt(first);
  }

  /** Connects once (failures reject) and wraps the client. */
  static async create(connect: () => Promise<FileClient>): Promise<ReconnectingFileClient> {
    return new ReconnectingFileClient(await connect(), connect);
  }

  /** How many times a new client was made. */
  reconnects = 0;

  /**
   * False from the moment the current client's transport is gone until a new client is adopted
   * (and after `close()`). Asking while it is down starts an attempt when none ran for a second.
   */
  linkUp(): boolean {
    if (this.#closed) return false;
    if (this.#dead && this.#next === undefined && Date.now() - this.#lastTry >= RETRY_INTERVAL_MS) {
      this.#reconnect().catch(() => undefined);
    }
    return !this.#dead;
  }

  #adopt(c: FileClient): void {
    this.#client = c;
    this.#dead = false;
    if (!reportsClose(c)) return;
    void c.closed.then(() => {
      this.#gone.add(c);
      if (this.#client !== c || this.#closed) return;
      this.#dead = true;
      // Try at once: the next request then finds the link back instead of waiting for it.
      this.#reconnect().catch(() => undefined);
    });
  }

  /** True when `error` of a call on `c` says its transport is gone; marks it so. */
  #lost(c: FileClient, error: unknown): boolean {
    if (!reportsClose(c)) return false;
    if (!this.#gone.has(c) && !isFsError(error, 'ENOTCONN') && !isFsError(error, 'ECONNABORTED')) return false;
    this.#gone.add(c);
    if (c === this.#client) this.#dead = true;
    return true;
  }

  #reconnect(): Promise<FileClient> {
    if (this.#next !== undefined) return this.#next;
    this.#lastTry = Date.now();
    this.#next = this.#connect().then(async c => {
      if (this.#closed) {
        await c.close().catch(() => undefined);
        throw new FsError('ENOTCONN', 'connect');
      }
      this.#adopt(c);
      this.reconnects++;
      for (const w of this.#watchers) await this.#subscribe(w, c);
      return c;
    }).finally(() => { this.#next = undefined; });
    return this.#next;
  }

  async #current(op: string): Promise<FileClient> {
    if (this.#closed) throw new FsError('ENOTCONN', op);
    if (!this.#dead) return this.#client;
    try {
      return await this.#reconnect();
    } catch (error) {
      throw new FsError('ENOTCONN', op, undefined, { cause: error });
    }
  }

  async #subscribe(w: Watcher, c: FileClient): Promise<void> {
    if (w.closed || !canWatch(c)) return;
    try {
      w.sub = await c.watch(w.root, w.listener);
      w.listener([{ path: w.root, kinds: [], rescan: true }]);
    } catch {
      w.sub = undefined;
    }
  }

  /**
   * Runs `fn` on the current client; when `repeatable` and the transport died under it, once more
   * on each new client. Resolves with the result and the client that gave it.
   */
  async #attempt<T>(op: string, fn: (c: FileClient) => Promise<T>, repeatable: boolean): Promise<[T, FileClient]> {
    let c = await this.#current(op);
    for (;;) {
      try {
        return [await fn(c), c];
      } catch (error) {
        if (!repeatable || !this.#lost(c, error)) throw error;
        const next = await this.#current(op);
        if (next === c) throw error;
        c = next;
      }
    }
  }

  async #call<T>(op: string, fn: (c: FileClient) => Promise<T>, repeatable = true): Promise<T> {
    return (await this.#attempt(op, fn, repeatable))[0];
  }

  /** Opens on the current client; the handle survives a new one (see the module comment). */
  async open(path: string, flags: OpenFlags, mode?: number): Promise<FileHandle> {
    const [inner, client] = await this.#attempt('open', c => c.open(path, flags, mode), flags.exclusive !== true);
    const handle = new ResilientHandle(this.#home, client, inner, path, flags);
    this.#handles.add(handle);
    return handle;
  }

  stat(path: string): Promise<FileStat> { return this.#call('stat', c => c.stat(path)); }
  lstat(path: string): Promise<FileStat> { return this.#call('lstat', c => c.lstat(path)); }
  readdir(path: string): Promise<DirEntry[]> { return this.#call('readdir', c => c.readdir(path)); }
  readlink(path: string): Promise<string> { return this.#call('readlink', c => c.readlink(path)); }
  subtree(path: string, bounds: SubtreeBounds): Promise<Subtree> {
    return this.#call('subtree', c => canSubtree(c) ? c.subtree(path, bounds) : Promise.reject(new FsError('ENOTSUP', 'subtree', path)));
  }

  readFiles(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]> {
    return this.#call('readFiles', c => canReadFiles(c) ? c.readFiles(paths, maxBytes) : Promise.reject(new FsError('ENOTSUP', 'readFiles', paths[0])));
  }

  mkdir(path: string, mode?: number): Promise<void> { return this.#call('mkdir', c => c.mkdir(path, mode), false); }
  rmdir(path: string): Promise<void> { return this.#call('rmdir', c => c.rmdir(path), false); }
  symlink(target: string, path: string): Promise<void> { return this.#call('symlink', c => c.symlink(target, path), false); }
  link(existing: string, newPath: string): Promise<void> { return this.#call('link', c => c.link(existing, newPath), false); }
  putFile(path: string, data: Uint8Array, options: PutFileOptions): Promise<void> {
    return this.#call('putFile', c => canPutFile(c) ? c.putFile(path, data, options) : Promise.reject(new FsError('ENOTSUP', 'putFile', path)), false);
  }

  mknod(path: string, mode: number, rdev: number): Promise<void> {
    return this.#call('mknod', c => canMknod(c) ? c.mknod(path, mode, rdev) : Promise.reject(new FsError('EPERM', 'mknod', path)), false);
  }
  setattr(path: string, attrs: SetAttr, options?: SetAttrOptions): Promise<void> { return this.#call('setattr', c => c.setattr(path, attrs, options)); }
  statfs(path: string): Promise<StatFs> { return this.#call('statfs', c => c.statfs(path)); }
  realpath(path: string): Promise<string> { return this.#call('realpath', c => c.realpath(path)); }

  /** Removes a name; handles open by it are orphaned (a reopen by that path would reach another file). */
  async unlink(path: string): Promise<void> {
    await this.#call('unlink', c => c.unlink(path), false);
    this.#unlinked(path);
  }

  /** Renames; handles open at `from` or below it follow, and handles open on a replaced `to` are orphaned. */
  async rename(from: string, to: string, options?: RenameOptions): Promise<void> {
    await this.#call('rename', c => c.rename(from, to, options), false);
    this.#renamed(from, to);
  }

  /** Sends the batch once (not repeatable); its unlinks and renames that landed are followed as `unlink` and `rename` follow theirs. */
  async batch(ops: readonly BatchOp[]): Promise<(FsError | undefined)[]> {
    const results = await this.#call('batch', c => canBatch(c)
      ? c.batch(ops)
      : Promise.reject(new FsError('ENOTSUP', 'batch', ops[0] === undefined ? undefined : batchOpPath(ops[0]))), false);
    ops.forEach((op, i) => {
      if (results[i] !== undefined) return;
      if (op.kind === 'unlink') this.#unlinked(op.path);
      else if (op.kind === 'rename') this.#renamed(op.from, op.to);
    });
    return results;
  }

  #unlinked(path: string): void {
    for (const h of this.#handles) if (h.path === path) h.orphaned();
  }

  #renamed(from: string, to: string): void {
    if (from === to) return;
    for (const h of this.#handles) {
      const path = h.path;
      if (path === to) h.orphaned();
      else if (path === from) h.moved(to);
      else if (path.startsWith(`${from}/`)) h.moved(`${to}${path.slice(from.length)}`);
    }
  }

  /** Copies on the current client; both handles must be open there (EBADF otherwise). */
  copyData(from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number): Promise<void> {
    return this.#call('copyData', c => {
      if (!canCopyData(c)) throw new FsError('ENOTSUP', 'copyData', from.path);
      const a = from instanceof ResilientHandle ? from.innerOn(c, 'copyData') : from;
      const b = to instanceof ResilientHandle ? to.innerOn(c, 'copyData') : to;
      return c.copyData(a, fromOffset, length, b, toOffset);
    }, false);
  }

  /** Subscribes on the current client and again on every new one (see the module comment). */
  async watch(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription> {
    const c = await this.#current('watch');
    if (!canWatch(c)) throw new FsError('ENOTSUP', 'watch', root);
    const w: Watcher = { root, listener, sub: await c.watch(root, listener), closed: false };
    this.#watchers.add(w);
    return {
      // The renewed subscription's rescan event follows at once: until then the old one says no.
      live: () => !w.closed && !this.#dead && !this.#closed && w.sub !== undefined && w.sub.live(),
      barrier: async () => {
        const sub = w.sub;
        if (w.closed || this.#dead || this.#closed || sub === undefined || !sub.live()) return false;
        // A subscription renewed meanwhile was not the one asked: its rescan tells the rest.
        return (await sub.barrier()) && w.sub === sub;
      },
      close: async () => {
        w.closed = true;
        this.#watchers.delete(w);
        await w.sub?.close().catch(() => undefined);
      },
    };
  }

  /** Closes the current client; later calls fail with ENOTCONN and start nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    this.#handles.clear();
    await this.#client.close().catch(error => { if (!isFsError(error, 'ENOTCONN')) throw error; });
  }
}
