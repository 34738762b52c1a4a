import {
  READ_FILES_MAX, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
  type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat, type OpenFlags,
  type RenameOptions, type SetAttr, type SetAttrOptions, type SmallFileRead, type StatFs, type Subtree, type SubtreeBounds,
  type SubtreeFolder, type Timespec,
} from '../../src/remote/file-client.ts';
import { FsError, isFsError } from '../../src/remote/fs-error.ts';

/** One in-memory inode. Names live in directory `entries`; a handle keeps its inode after unlink. */
export interface MemoryInode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Names pointing here (directories: 2 + subdirectories). */
  nlink: number;
  /** File contents; `size` bytes of it are valid. */
  data: Buffer;
  size: number;
  /** Directory entries. */
  entries: Map<string, MemoryInode>;
  /** Symlink target. */
  target: string;
  /** Device number of a device node, else 0. */
  rdev: number;
}

/** Options of {@link MemoryFileClient}. */
export interface MemoryFileClientOptions {
  /** Capability overrides (all true by default, maxRead/maxWrite 256 KiB). */
  capabilities?: Partial<FileCapabilities>;
  /** Owner of everything created (the remote user). Default 1000/1000. */
  uid?: number;
  gid?: number;
  /** Report `ino`/`nlink`/`ctime` in stats (like an agent); false mimics plain SFTP v3. Default true. */
  reportInodes?: boolean;
  /** Milliseconds every call waits before running. */
  latencyMs?: number;
  /** Bits the "remote" clears from the mode of what it creates, as a server process's umask does. Default 0. */
  umask?: number;
  /** Give the client a `closed` promise, as clients whose transport can die have (see `kill`). */
  killable?: boolean;
  /** Serve the files of this client, as a new connection to the same server would. */
  sameFilesAs?: MemoryFileClient;
  /**
   * Handles say they carry out calls in order (FileHandle.inOrder), as SFTP's do. Calls with the
   * same latency run in the order they were made; a hook that delays some breaks that.
   */
  inOrder?: boolean;
}

/**
 * Called before every method (handle methods as "handle.read" etc.) with its arguments. It may
 * throw (injected failure), return a promise that never settles (a dead server), or delay.
 */
export type MemoryHook = (method: string, args: unknown[]) => void | Promise<void>;

const DEFAULT_CAPABILITIES: FileCapabilities = {
  fsync: true, hardlink: true, symlink: true, statvfs: true, posixRename: true, noFollowSetattr: true,
  copyData: false, expandPath: true, watch: false, inodes: true, specialFiles: false, nanoseconds: true,
  maxRead: 256 << 10, maxWrite: 256 << 10,
};

/**
 * An in-memory POSIX-ish FileClient for VFS unit tests: inodes with link counts (hard links),
 * symlinks, modes, nanosecond times, POSIX rename rules, handles that survive unlink, call
 * counters and failure/latency hooks. Never evidence that a real backend works.
 */
export class MemoryFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  /** Calls per method name ("lstat", "readdir", "handle.write", ...). */
  readonly calls = new Map<string, number>();
  /** Arguments of every call, in order (buffers are not copied). */
  readonly log: Array<{ method: string; args: unknown[] }> = [];
  /** See {@link MemoryHook}. */
  hook: MemoryHook | undefined;
  readonly root: MemoryInode;
  /** Present with `killable`: resolves once `kill()` or `close()` ended the "transport". */
  readonly closed?: Promise<void>;
  #endTransport: (() => void) | undefined;
  /** Rejects once killed, so that calls waiting in a hook or latency fail as on a broken link. */
  readonly #death: Promise<never>;
  #die!: () => void;
  /** Shared by clients of the same files (`sameFilesAs`). */
  readonly #server: { nextIno: number };
  readonly #uid: number;
  readonly #gid: number;
  readonly #reportInodes: boolean;
  /** See MemoryFileClientOptions.inOrder. */
  readonly handlesInOrder: boolean;
  readonly #latencyMs: number;
  readonly #umask: number;
  #closed = false;
  #clockNs = BigInt(Date.now()) * 1_000_000n;

  constructor(options: MemoryFileClientOptions = {}) {
    this.capabilities = { ...DEFAULT_CAPABILITIES, ...options.capabilities };
    this.#uid = options.uid ?? 1000;
    this.#gid = options.gid ?? 1000;
    this.#reportInodes = options.reportInodes ?? true;
    this.#latencyMs = options.latencyMs ?? 0;
    this.handlesInOrder = options.inOrder ?? false;
    this.#umask = options.umask ?? 0;
    this.#death = new Promise<never>((_, reject) => { this.#die = () => reject(new Error('killed')); });
    this.#death.catch(() => undefined);
    if (options.killable === true) this.closed = new Promise<void>(resolve => { this.#endTransport = resolve; });
    const shared = options.sameFilesAs;
    this.#server = shared === undefined ? { nextIno: 2 } : shared.#server;
    this.root = shared?.root ?? this.#inode(S_IFDIR | 0o755);
    this.root.nlink = Math.max(this.root.nlink, 2);
  }

  /**
   * The transport dies (a killed agent, a cut link): `closed` resolves, and calls waiting in the
   * latency or the hook, and every later call, reject with ENOTCONN. The files stay for clients
   * made with `sameFilesAs`.
   */
  kill(): void {
    this.#closed = true;
    this.#die();
    this.#endTransport?.();
  }

  /** Calls made to `method` so far. */
  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  /** Forgets the call counters and log. */
  resetCounts(): void {
    this.calls.clear();
    this.log.length = 0;
  }

  /** Writes a whole file, creating parent folders. */
  put(path: string, content: string | Buffer, mode = 0o644): MemoryInode {
    const parts = split(path);
    let dir = this.root;
    for (const name of parts.slice(0, -1)) {
      let next = dir.entries.get(name);
      if (next === undefined) next = this.#addDir(dir, name, 0o755);
      dir = next;
    }
    const name = parts[parts.length - 1]!;
    let node = dir.entries.get(name);
    if (node === undefined) {
      node = this.#inode(S_IFREG | mode);
      this.#attach(dir, name, node);
    }
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    node.data = Buffer.from(data);
    node.size = data.length;
    return node;
  }

  /** Creates folders like mkdir -p. */
  putDir(path: string, mode = 0o755): MemoryInode {
    let dir = this.root;
    for (const name of split(path)) dir = dir.entries.get(name) ?? this.#addDir(dir, name, mode);
    return dir;
  }

  /** The content of a file, for assertions. */
  content(path: string): Buffer {
    const node = this.#resolve(path, 'read', true);
    return node.data.subarray(0, node.size);
  }

  /** True when `path` exists (lstat semantics). */
  exists(path: string): boolean {
    try {
      this.#resolve(path, 'lstat', false);
      return true;
    } catch {
      return false;
    }
  }

  /** The inode at `path` (lstat semantics), for direct changes behind the VFS's back. */
  inodeAt(path: string): MemoryInode {
    return this.#resolve(path, 'lstat', false);
  }

  /** Removes a name behind the VFS's back (as another user on the server would). */
  removeBehind(path: string): void {
    const { dir, name } = this.#parentOf(path, 'unlink');
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError('ENOENT', 'unlink', path);
    this.#detach(dir, name, node);
  }

  async open(path: string, flags: OpenFlags, mode = 0o666): Promise<FileHandle> {
    await this.#enter('open', [path, flags, mode]);
    const { dir, name } = this.#parentOf(path, 'open');
    let node = dir.entries.get(name);
    if (node !== undefined && (node.mode & S_IFMT) === S_IFLNK) node = this.#resolve(path, 'open', true);
    if (node === undefined) {
      if (flags.create !== true) throw new FsError('ENOENT', 'open', path);
      node = this.#inode(S_IFREG | (mode & 0o7777 & ~this.#umask));
      this.#attach(dir, name, node);
      this.#touchDir(dir);
    } else if (flags.create === true && flags.exclusive === true) {
      throw new FsError('EEXIST', 'open', path);
    }
    if ((node.mode & S_IFMT) === S_IFDIR) throw new FsError('EISDIR', 'open', path);
    if (flags.truncate === true && flags.write) {
      node.size = 0;
      node.mtime = node.ctime = this.#now();
    }
    return new MemoryFileHandle(this, path, node, flags);
  }

  async stat(path: string): Promise<FileStat> {
    await this.#enter('stat', [path]);
    return this.statOf(this.#resolve(path, 'stat', true));
  }

  async lstat(path: string): Promise<FileStat> {
    await this.#enter('lstat', [path]);
    return this.statOf(this.#resolve(path, 'lstat', false));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    await this.#enter('readdir', [path]);
    const dir = this.#resolve(path, 'readdir', true);
    if ((dir.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', 'readdir', path);
    return [...dir.entries].map(([name, node]) => ({ name, stat: this.statOf(node) }));
  }

  /**
   * Listings below `path` as rmount-agent's listings@rmount gives them: breadth first, `path` first
   * whatever `maxEntries` says, cut before the first folder that would pass it. Only with
   * `capabilities.subtree` (off by default, so that VFS tests count readdir calls as before).
   */
  async subtree(path: string, bounds: SubtreeBounds): Promise<Subtree> {
    await this.#enter('subtree', [path, bounds]);
    if (this.capabilities.subtree !== true) throw new FsError('ENOTSUP', 'subtree', path);
    const top = this.#resolve(path, 'subtree', true);
    if ((top.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', 'subtree', path);
    const maxDepth = bounds.maxDepth ?? 0;
    const folders: SubtreeFolder[] = [];
    const queue = [{ path, node: top, depth: 1 }];
    let entries = 0;
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (folders.length > 0 && entries + next.node.entries.size > bounds.maxEntries) return { folders, truncated: true };
      entries += next.node.entries.size;
      folders.push({ path: next.path, entries: [...next.node.entries].map(([name, node]) => ({ name, stat: this.statOf(node) })) });
      if (maxDepth !== 0 && next.depth >= maxDepth) continue;
      for (const [name, node] of next.node.entries) {
        if ((node.mode & S_IFMT) !== S_IFDIR) continue;
        queue.push({ path: `${next.path === '/' ? '' : next.path}/${name}`, node, depth: next.depth + 1 });
      }
    }
    return { folders, truncated: false };
  }

  /** The first `maxBytes` of each file, as readfiles@rmount; only with `capabilities.readFiles` (off by default). */
  async readFiles(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]> {
    await this.#enter('readFiles', [paths, maxBytes]);
    if (this.capabilities.readFiles !== true) throw new FsError('ENOTSUP', 'readFiles', paths[0]);
    if (paths.length > READ_FILES_MAX) throw new FsError('EINVAL', 'readFiles', paths[0]);
    return paths.map(path => {
      try {
        const node = this.#resolve(path, 'readFiles', true);
        if ((node.mode & S_IFMT) === S_IFDIR) throw new FsError('EISDIR', 'readFiles', path);
        return { path, stat: this.statOf(node), data: Buffer.from(node.data.subarray(0, Math.min(node.size, maxBytes))) };
      } catch (error) {
        if (!isFsError(error)) throw error;
        return { path, error };
      }
    });
  }

  async readlink(path: string): Promise<string> {
    await this.#enter('readlink', [path]);
    const node = this.#resolve(path, 'readlink', false);
    if ((node.mode & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', 'readlink', path);
    return node.target;
  }

  async mkdir(path: string, mode = 0o777): Promise<void> {
    await this.#enter('mkdir', [path, mode]);
    const { dir, name } = this.#parentOf(path, 'mkdir');
    if (dir.entries.has(name)) throw new FsError('EEXIST', 'mkdir', path);
    this.#addDir(dir, name, mode & 0o7777 & ~this.#umask);
  }

  async rmdir(path: string): Promise<void> {
    await this.#enter('rmdir', [path]);
    const { dir, name } = this.#parentOf(path, 'rmdir');
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError('ENOENT', 'rmdir', path);
    if ((node.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', 'rmdir', path);
    if (node.entries.size > 0) throw new FsError('ENOTEMPTY', 'rmdir', path);
    this.#detach(dir, name, node);
  }

  async unlink(path: string): Promise<void> {
    await this.#enter('unlink', [path]);
    const { dir, name } = this.#parentOf(path, 'unlink');
    const node = dir.entries.get(name);
    if (node === undefined) throw new FsError('ENOENT', 'unlink', path);
    if ((node.mode & S_IFMT) === S_IFDIR) throw new FsError('EISDIR', 'unlink', path);
    this.#detach(dir, name, node);
  }

  async rename(from: string, to: string, options?: RenameOptions): Promise<void> {
    await this.#enter('rename', [from, to, options]);
    const src = this.#parentOf(from, 'rename');
    const dst = this.#parentOf(to, 'rename');
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw new FsError('ENOENT', 'rename', from);
    const target = dst.dir.entries.get(dst.name);
    const isDir = (node.mode & S_IFMT) === S_IFDIR;
    if (isDir && (to === from || to.startsWith(`${from}/`))) {
      if (to === from) return;
      throw new FsError('EINVAL', 'rename', to);
    }
    if (target !== undefined) {
      if (options?.noReplace === true) throw new FsError('EEXIST', 'rename', to);
      if (target === node) return;
      const targetIsDir = (target.mode & S_IFMT) === S_IFDIR;
      if (isDir && !targetIsDir) throw new FsError('ENOTDIR', 'rename', to);
      if (!isDir && targetIsDir) throw new FsError('EISDIR', 'rename', to);
      if (targetIsDir && target.entries.size > 0) throw new FsError('ENOTEMPTY', 'rename', to);
      this.#detach(dst.dir, dst.name, target);
    }
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
    if (isDir && src.dir !== dst.dir) {
      src.dir.nlink--;
      dst.dir.nlink++;
    }
    node.ctime = this.#now();
    this.#touchDir(src.dir);
    this.#touchDir(dst.dir);
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.#enter('symlink', [target, path]);
    const { dir, name } = this.#parentOf(path, 'symlink');
    if (dir.entries.has(name)) throw new FsError('EEXIST', 'symlink', path);
    const node = this.#inode(S_IFLNK | 0o777);
    node.target = target;
    node.size = Buffer.byteLength(target);
    this.#attach(dir, name, node);
    this.#touchDir(dir);
  }

  /** Makes a special file (or an empty regular one) with `mode` exactly; `rdev` is kept. */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    await this.#enter('mknod', [path, mode, rdev]);
    if (!this.capabilities.specialFiles) throw new FsError('EPERM', 'mknod', path);
    const { dir, name } = this.#parentOf(path, 'mknod');
    if (dir.entries.has(name)) throw new FsError('EEXIST', 'mknod', path);
    const node = this.#inode(mode);
    node.rdev = rdev;
    this.#attach(dir, name, node);
    this.#touchDir(dir);
  }

  async link(existing: string, newPath: string): Promise<void> {
    await this.#enter('link', [existing, newPath]);
    if (!this.capabilities.hardlink) throw new FsError('ENOSYS', 'link', newPath);
    const node = this.#resolve(existing, 'link', false);
    if ((node.mode & S_IFMT) === S_IFDIR) throw new FsError('EPERM', 'link', existing);
    const { dir, name } = this.#parentOf(newPath, 'link');
    if (dir.entries.has(name)) throw new FsError('EEXIST', 'link', newPath);
    this.#attach(dir, name, node);
    node.ctime = this.#now();
    this.#touchDir(dir);
  }

  async setattr(path: string, attrs: SetAttr, options?: SetAttrOptions): Promise<void> {
    await this.#enter('setattr', [path, attrs, options]);
    if (options?.noFollow === true && !this.capabilities.noFollowSetattr) throw new FsError('ENOTSUP', 'setattr', path);
    const node = this.#resolve(path, 'setattr', options?.noFollow !== true);
    this.applyAttrs(node, attrs, 'setattr', path);
  }

  async statfs(path: string): Promise<StatFs> {
    await this.#enter('statfs', [path]);
    this.#resolve(path, 'statfs', true);
    return { bsize: 4096, frsize: 4096, blocks: 1 << 20, bfree: 1 << 19, bavail: 1 << 19, files: 1 << 16, ffree: 1 << 15, favail: 1 << 15, flag: 0, namemax: 255 };
  }

  /** The home and login folder is `/`; `..` and symlinks are resolved, every component must exist. */
  async realpath(path: string): Promise<string> {
    await this.#enter('realpath', [path]);
    const home = path === '~' || path.startsWith('~/') ? path.slice(1) : path;
    return `/${this.#canonical(home, 'realpath', path).join('/')}`;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#endTransport?.();
  }

  /** Counts a call, runs latency and the hook; rejects with ENOTCONN after close. @internal */
  async enter(method: string, args: unknown[]): Promise<void> {
    return this.#enter(method, args);
  }

  /** FileStat of an inode. @internal */
  statOf(node: MemoryInode): FileStat {
    const stat: FileStat = {
      mode: node.mode, size: node.size, uid: node.uid, gid: node.gid,
      atime: { ...node.atime }, mtime: { ...node.mtime },
    };
    if (node.rdev !== 0) stat.rdev = node.rdev;
    if (this.#reportInodes) {
      stat.ino = node.ino;
      stat.dev = 1;
      stat.nlink = node.nlink;
      stat.ctime = { ...node.ctime };
    }
    return stat;
  }

  /** Applies setattr fields to an inode. @internal */
  applyAttrs(node: MemoryInode, attrs: SetAttr, syscall: string, path: string): void {
    if (attrs.size !== undefined) {
      if ((node.mode & S_IFMT) === S_IFDIR) throw new FsError('EISDIR', syscall, path);
      this.resize(node, attrs.size);
      node.mtime = this.#now();
    }
    if (attrs.mode !== undefined) node.mode = (node.mode & S_IFMT) | (attrs.mode & 0o7777);
    if (attrs.uid !== undefined) node.uid = attrs.uid;
    if (attrs.gid !== undefined) node.gid = attrs.gid;
    if (attrs.atime !== undefined) node.atime = attrs.atime === 'now' ? this.#now() : { ...attrs.atime };
    if (attrs.mtime !== undefined) node.mtime = attrs.mtime === 'now' ? this.#now() : { ...attrs.mtime };
    node.ctime = this.#now();
  }

  /** Sets a file's size, zero-filling growth. @internal */
  resize(node: MemoryInode, size: number): void {
    if (size > node.data.length) {
      const grown = Buffer.alloc(Math.max(size, node.data.length * 2));
      node.data.copy(grown, 0, 0, node.size);
      node.data = grown;
    } else if (size > node.size) {
      node.data.fill(0, node.size, size);
    }
    node.size = size;
  }

  /** A strictly increasing timestamp with nanoseconds. @internal */
  now(): Timespec {
    return this.#now();
  }

  #now(): Timespec {
    const wall = BigInt(Date.now()) * 1_000_000n;
    this.#clockNs = wall > this.#clockNs ? wall : this.#clockNs + 1n;
    return { sec: Number(this.#clockNs / 1_000_000_000n), nsec: Number(this.#clockNs % 1_000_000_000n) };
  }

  async #enter(method: string, args: unknown[]): Promise<void> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    this.log.push({ method, args });
    const waits = (async () => {
      if (this.#latencyMs > 0) await new Promise(resolve => setTimeout(resolve, this.#latencyMs));
      if (this.hook !== undefined) await this.hook(method, args);
    })();
    await Promise.race([waits, this.#death]).catch((error: unknown) => {
      if (!this.#closed) throw error;
    });
    if (this.#closed) throw new FsError('ENOTCONN', method);
  }

  #inode(mode: number): MemoryInode {
    const t = this.#now();
    return {
      ino: this.#server.nextIno++, mode, uid: this.#uid, gid: this.#gid, atime: t, mtime: { ...t }, ctime: { ...t },
      nlink: 0, rdev: 0, data: Buffer.alloc(0), size: 0, entries: new Map(), target: '',
    };
  }

  #addDir(parent: MemoryInode, name: string, mode: number): MemoryInode {
    const dir = this.#inode(S_IFDIR | mode);
    parent.entries.set(name, dir);
    dir.nlink = 2;
    parent.nlink++;
    this.#touchDir(parent);
    return dir;
  }

  #attach(dir: MemoryInode, name: string, node: MemoryInode): void {
    dir.entries.set(name, node);
    node.nlink++;
  }

  #detach(dir: MemoryInode, name: string, node: MemoryInode): void {
    dir.entries.delete(name);
    if ((node.mode & S_IFMT) === S_IFDIR) {
      node.nlink = 0;
      dir.nlink--;
    } else {
      node.nlink--;
    }
    node.ctime = this.#now();
    this.#touchDir(dir);
  }

  #touchDir(dir: MemoryInode): void {
    dir.mtime = this.#now();
    dir.ctime = { ...dir.mtime };
  }

  /** Walks `path`; intermediate symlinks are followed, the last one only when `follow`. */
  #resolve(path: string, syscall: string, follow: boolean, depth = 0): MemoryInode {
    if (depth > 40) throw new FsError('ELOOP', syscall, path);
    const parts = split(path);
    let node = this.root;
    for (let i = 0; i < parts.length; i++) {
      if ((node.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', syscall, path);
      const next = node.entries.get(parts[i]!);
      if (next === undefined) throw new FsError('ENOENT', syscall, path);
      if ((next.mode & S_IFMT) === S_IFLNK && (i < parts.length - 1 || follow)) {
        const base = `/${parts.slice(0, i).join('/')}`;
        const target = next.target.startsWith('/') ? next.target : `${base}/${next.target}`;
        node = this.#resolve(`${target}/${parts.slice(i + 1).join('/')}`, syscall, follow, depth + 1);
        return node;
      }
      node = next;
    }
    return node;
  }

  /** The names of `path`'s canonical form: `.`, `..` and every symlink resolved, as realpath(3). */
  #canonical(path: string, syscall: string, original: string, depth = 0): string[] {
    if (depth > 40) throw new FsError('ELOOP', syscall, original);
    const parts = split(path);
    const names: string[] = [];
    const nodes: MemoryInode[] = [this.root];
    for (let i = 0; i < parts.length; i++) {
      if (parts[i] === '..') {
        if (names.length > 0) { names.pop(); nodes.pop(); }
        continue;
      }
      const dir = nodes[nodes.length - 1]!;
      if ((dir.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', syscall, original);
      const next = dir.entries.get(parts[i]!);
      if (next === undefined) throw new FsError('ENOENT', syscall, original);
      if ((next.mode & S_IFMT) === S_IFLNK) {
        const target = next.target.startsWith('/') ? next.target : `/${names.join('/')}/${next.target}`;
        return this.#canonical(`${target}/${parts.slice(i + 1).join('/')}`, syscall, original, depth + 1);
      }
      names.push(parts[i]!);
      nodes.push(next);
    }
    return names;
  }

  #parentOf(path: string, syscall: string): { dir: MemoryInode; name: string } {
    const parts = split(path);
    if (parts.length === 0) throw new FsError('EBUSY', syscall, path);
    const dir = this.#resolve(`/${parts.slice(0, -1).join('/')}`, syscall, true);
    if ((dir.mode & S_IFMT) !== S_IFDIR) throw new FsError('ENOTDIR', syscall, path);
    return { dir, name: parts[parts.length - 1]! };
  }
}

/** An open in-memory file; it keeps its inode, so it works after unlink. */
class MemoryFileHandle implements FileHandle {
  readonly path: string;
  readonly #client: MemoryFileClient;
  readonly #node: MemoryInode;
  readonly #flags: OpenFlags;
  #closed = false;

  constructor(client: MemoryFileClient, path: string, node: MemoryInode, flags: OpenFlags) {
    this.#client = client;
    this.path = path;
    this.#node = node;
    this.#flags = flags;
  }

  get inOrder(): boolean {
    return this.#client.handlesInOrder;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.#enter('handle.read', [offset, length, position]);
    if (!this.#flags.read) throw new FsError('EBADF', 'read', this.path);
    const node = this.#node;
    if (position >= node.size) return 0;
    const n = Math.min(length, node.size - position);
    buffer.set(node.data.subarray(position, position + n), offset);
    return n;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    await this.#enter('handle.write', [offset, length, position]);
    if (!this.#flags.write) throw new FsError('EBADF', 'write', this.path);
    const node = this.#node;
    const at = this.#flags.append === true ? node.size : position;
    if (at + length > node.size) this.#client.resize(node, at + length);
    node.data.set(buffer.subarray(offset, offset + length), at);
    node.mtime = this.#client.now();
    node.ctime = { ...node.mtime };
  }

  async stat(): Promise<FileStat> {
    await this.#enter('handle.stat', []);
    return this.#client.statOf(this.#node);
  }

  async setattr(attrs: SetAttr): Promise<void> {
    await this.#enter('handle.setattr', [attrs]);
    this.#client.applyAttrs(this.#node, attrs, 'setattr', this.path);
  }

  async sync(): Promise<void> {
    await this.#enter('handle.sync', []);
  }

  async close(): Promise<void> {
    await this.#client.enter('handle.close', []);
    this.#closed = true;
  }

  async #enter(method: string, args: unknown[]): Promise<void> {
    await this.#client.enter(method, args);
    if (this.#closed) throw new FsError('EBADF', method.replace('handle.', ''), this.path);
  }
}

function split(path: string): string[] {
  return path.split('/').filter(p => p !== '' && p !== '.');
}
