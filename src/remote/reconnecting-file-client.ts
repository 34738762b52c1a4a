/**
 * A FileClient that replaces a client whose transport died: once the current client's `closed`
 * resolves (the agent was killed, the exec channel closed), calls fail with ENOTCONN as that
 * client answers them, and the next call makes a new one through `connect`. Handles opened on the
 * old client stay dead (ENOTCONN/EBADF); watch subscriptions are renewed on the new client and get
 * one rescan event. A client without `closed` is kept for good.
 */
import {
  canCopyData, canWatch, reportsClose,
  type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat, type OpenFlags,
  type RenameOptions, type SetAttr, type SetAttrOptions, type StatFs, type WatchEvent, type WatchSubscription,
} from './file-client.ts';
import { FsError, isFsError } from './fs-error.ts';

interface Watcher {
  root: string;
  listener: (events: WatchEvent[]) => void;
  sub: WatchSubscription | undefined;
  closed: boolean;
}

/** Wraps a client made by `connect` and makes a new one whenever the current one's transport is gone. */
export class ReconnectingFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  /** Written only by `#adopt`. */
  #client!: FileClient;
  /** True once `#client.closed` resolved; written only by `#adopt` and its `closed` callback. */
  #dead = false;
  #next: Promise<FileClient> | undefined;
  #closed = false;
  readonly #connect: () => Promise<FileClient>;
  readonly #watchers = new Set<Watcher>();

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

  #adopt(c: FileClient): void {
    this.#client = c;
    this.#dead = false;
    if (reportsClose(c)) void c.closed.then(() => { if (this.#client === c) this.#dead = true; });
  }

  async #current(op: string): Promise<FileClient> {
    if (this.#closed) throw new FsError('ENOTCONN', op);
    if (!this.#dead) return this.#client;
    this.#next ??= this.#connect().then(async c => {
      this.#adopt(c);
      this.reconnects++;
      for (const w of this.#watchers) await this.#subscribe(w, c);
      return c;
    }).finally(() => { this.#next = undefined; });
    try {
      return await this.#next;
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

  async #call<T>(op: string, fn: (c: FileClient) => Promise<T>): Promise<T> {
    const c = await this.#current(op);
    return fn(c);
  }

  open(path: string, flags: OpenFlags, mode?: number): Promise<FileHandle> { return this.#call('open', c => c.open(path, flags, mode)); }
  stat(path: string): Promise<FileStat> { return this.#call('stat', c => c.stat(path)); }
  lstat(path: string): Promise<FileStat> { return this.#call('lstat', c => c.lstat(path)); }
  readdir(path: string): Promise<DirEntry[]> { return this.#call('readdir', c => c.readdir(path)); }
  readlink(path: string): Promise<string> { return this.#call('readlink', c => c.readlink(path)); }
  mkdir(path: string, mode?: number): Promise<void> { return this.#call('mkdir', c => c.mkdir(path, mode)); }
  rmdir(path: string): Promise<void> { return this.#call('rmdir', c => c.rmdir(path)); }
  unlink(path: string): Promise<void> { return this.#call('unlink', c => c.unlink(path)); }
  rename(from: string, to: string, options?: RenameOptions): Promise<void> { return this.#call('rename', c => c.rename(from, to, options)); }
  symlink(target: string, path: string): Promise<void> { return this.#call('symlink', c => c.symlink(target, path)); }
  link(existing: string, newPath: string): Promise<void> { return this.#call('link', c => c.link(existing, newPath)); }
  setattr(path: string, attrs: SetAttr, options?: SetAttrOptions): Promise<void> { return this.#call('setattr', c => c.setattr(path, attrs, options)); }
  statfs(path: string): Promise<StatFs> { return this.#call('statfs', c => c.statfs(path)); }
  realpath(path: string): Promise<string> { return this.#call('realpath', c => c.realpath(path)); }

  /** Copies on the current client; handles of an earlier one fail there with EBADF or ENOTCONN. */
  copyData(from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number): Promise<void> {
    return this.#call('copyData', c => {
      if (!canCopyData(c)) throw new FsError('ENOTSUP', 'copyData', from.path);
      return c.copyData(from, fromOffset, length, to, toOffset);
    });
  }

  /** Subscribes on the current client and again on every new one (see the module comment). */
  async watch(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription> {
    const c = await this.#current('watch');
    if (!canWatch(c)) throw new FsError('ENOTSUP', 'watch', root);
    const w: Watcher = { root, listener, sub: await c.watch(root, listener), closed: false };
    this.#watchers.add(w);
    return {
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
    await this.#client.close().catch(error => { if (!isFsError(error, 'ENOTCONN')) throw error; });
  }
}
