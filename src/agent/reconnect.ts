/**
 * A FileClient that replaces a dead agent: when the agent's transport drops (the process was
 * killed, the exec channel closed), calls fail with ENOTCONN as the codec answers them, and the
 * next call starts a new agent through `connect`. Handles opened on the old agent stay dead
 * (ENOTCONN/EBADF); watch subscriptions are renewed on the new agent and get one rescan event.
 */
import type {
  DirEntry, FileCapabilities, FileClient, FileHandle, FileStat, OpenFlags, RenameOptions, SetAttr,
  SetAttrOptions, StatFs, WatchEvent, WatchSubscription,
} from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';

/** A client whose transport state can be asked (SftpFileClient's `sftp.closed`). */
type Probe = FileClient & { sftp?: { closed: boolean } };

interface Watcher {
  root: string;
  listener: (events: WatchEvent[]) => void;
  sub: WatchSubscription | undefined;
  closed: boolean;
}

export class ReconnectingFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  #client: Probe;
  #next: Promise<Probe> | undefined;
  #closed = false;
  readonly #connect: () => Promise<Probe>;
  readonly #watchers = new Set<Watcher>();

  private constructor(first: Probe, connect: () => Promise<Probe>) {
    this.#client = first;
    this.#connect = connect;
    this.capabilities = first.capabilities;
  }

  /** Connects once (failures reject) and wraps the client. */
  static async create(connect: () => Promise<FileClient>): Promise<ReconnectingFileClient> {
    return new ReconnectingFileClient(await connect(), connect);
  }

  /** How many times a new agent was started. */
  reconnects = 0;

  async #current(op: string): Promise<Probe> {
    if (this.#closed) throw new FsError('ENOTCONN', op);
    if (this.#client.sftp?.closed !== true) return this.#client;
    this.#next ??= this.#connect().then(async c => {
      this.#client = c;
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

  async #subscribe(w: Watcher, c: Probe): Promise<void> {
    if (w.closed || c.watch === undefined) return;
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

  /** Subscribes on the current agent and again on every new one (see the module comment). */
  async watch(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription> {
    const c = await this.#current('watch');
    if (c.watch === undefined) throw new FsError('ENOTSUP', 'watch', root);
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

  /** Closes the current agent; later calls fail with ENOTCONN and start nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    await this.#client.close().catch(error => { if (!isFsError(error, 'ENOTCONN')) throw error; });
  }
}
