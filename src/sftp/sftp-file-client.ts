/**
 * The FileClient contract over the SFTP v3 codec. Errors become FsError once, through `SftpErrno`,
 * with the SFTP error kept as `cause`; large reads and writes are split at the negotiated limits
 * and pipelined by `SftpFileHandle`.
 */

import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BATCH_MAX_BYTES, BATCH_MAX_OPS, READ_FILES_MAX, batchOpBytes, batchOpPath,
  type BatchOp, type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat, type OpenFlags,
  type PutFileOptions, type RenameOptions, type SetAttr, type SetAttrOptions, type SmallFileRead, type StatFs, type Subtree,
  type SubtreeBounds, type WatchEvent, type WatchSubscription,
} from '../remote/file-client.ts';
import { FsError, isErrnoName } from '../remote/fs-error.ts';
import { EXT, RMOUNT_EXT, RMOUNT_SETSTAT_FLAG, STATUS } from './constants.ts';
import { SftpErrno } from './errno-refinement.ts';
import type { PacketReader, SftpAttrs } from './packet.ts';
import { MADE_UP_STATFS, isDir, needsCurrent, toFileStat, toPflags, toSetstatNs, toSftpAttrs, toStatFs } from './sftp-attrs.ts';
import type { SftpListings } from './rmount-extensions.ts';
import { SftpClient, type SftpSmallFile, type SftpTreeEntry } from './sftp-client.ts';
import { SftpFileHandle } from './sftp-file-handle.ts';
import { SftpStatusError } from './status.ts';
import { deliverWatchEvents, type WatchTarget } from './watch-events.ts';

export { SftpFileHandle } from './sftp-file-handle.ts';

/** Longest `close()` waits for the answer to end@rmount. */
const END_WAIT_MS = 2000;
export { toFileStat } from './sftp-attrs.ts';

/** Options of `SftpFileClient.over`. */
export interface SftpFileClientOptions {
  /** Cap on read and write bytes awaiting a reply, per client (default 8 MiB). */
  maxBytesInFlight?: number;
  /** A label for messages, such as "sftp over ssh://host". */
  name?: string;
  /** Aborts the handshake. */
  signal?: AbortSignal;
  /** INIT was written ahead by the caller (see SftpClientOptions.initSent). */
  initSent?: boolean;
  /**
   * The server is a durable rmount-agent session with this instance name: its handles stay valid
   * on every later client of the same instance (see `adopt`).
   */
  instance?: string;
}

/**
 * A FileClient over SFTP v3 on any duplex stream: an SSH `sftp` subsystem channel, an agent's
 * stdio, a spawned `sftp-server`. The stream is handed in and never opened here; `close()` ends it.
 */
export class SftpFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  /** The protocol client underneath, for callers that need SFTP-level access. */
  readonly sftp: SftpClient;
  /** Resolves once the stream ended, broke or `close()` ended it (see `FileClient.closed`). */
  readonly closed: Promise<void>;
  readonly #errno: SftpErrno;
  /** The durable agent session's instance this client speaks to; handles carry it too. */
  readonly instance: string | undefined;

  private constructor(sftp: SftpClient, instance: string | undefined) {
    this.sftp = sftp;
    this.instance = instance;
    this.closed = sftp.gone;
    this.#errno = new SftpErrno(sftp);
    this.capabilities = Object.freeze({
      fsync: sftp.has(EXT.FSYNC),
      hardlink: sftp.has(EXT.HARDLINK),
      symlink: true,
      statvfs: sftp.has(EXT.STATVFS),
      posixRename: sftp.has(EXT.POSIX_RENAME),
      noFollowSetattr: sftp.has(EXT.LSETSTAT),
      copyData: sftp.has(EXT.COPY_DATA),
      expandPath: sftp.has(EXT.EXPAND_PATH),
      watch: sftp.has(RMOUNT_EXT.WATCH),
      inodes: sftp.has(RMOUNT_EXT.ATTRS),
      specialFiles: sftp.has(RMOUNT_EXT.MKNOD),
      nanoseconds: sftp.has(RMOUNT_EXT.ATTRS) && sftp.has(RMOUNT_EXT.SETSTAT),
      maxRead: sftp.limits.maxRead,
      maxWrite: sftp.limits.maxWrite,
      // OpenSSH's sftp-server and rmount-agent answer one channel's requests one at a time, in order.
      inOrder: true,
      putFile: sftp.has(RMOUNT_EXT.PUTFILE),
      batch: sftp.has(RMOUNT_EXT.BATCH),
      subtree: sftp.has(RMOUNT_EXT.LISTINGS),
      readFiles: sftp.has(RMOUNT_EXT.READFILES),
      // rmount-agent walks long paths by folder descriptors; OpenSSH's sftp-server cannot.
      shortPaths: !sftp.has(RMOUNT_EXT.ATTRS),
    });
  }

  /**
   * Runs the SFTP handshake over `stream` and resolves with a ready client.
   * @throws FsError ENOTCONN when the stream closes first or does not speak SFTP v3.
   */
  static async over(stream: Duplex, options: SftpFileClientOptions = {}): Promise<SftpFileClient> {
    try {
      return new SftpFileClient(await SftpClient.connect(stream, options), options.instance);
    } catch (error) {
      throw new FsError('ENOTCONN', 'connect', undefined, { cause: error });
    }
  }

  /** Extensions the server advertised: name → version data. */
  get extensions(): ReadonlyMap<string, string> {
    return this.sftp.extensions;
  }

  /** @inheritDoc */
  async open(path: string, flags: OpenFlags, mode = 0o666): Promise<FileHandle> {
    const attrs: SftpAttrs = flags.create ? { permissions: mode & 0o7777 } : {};
    try {
      const handle = await this.sftp.open(path, toPflags(flags), attrs);
      return new SftpFileHandle(this.sftp, this.#errno, path, handle, this.instance);
    } catch (error) {
      throw await this.#errno.convert('open', path, error, this.#errno.open(path, flags));
    }
  }

  /** @inheritDoc */
  adopt(handle: FileHandle): FileHandle | undefined {
    if (this.instance === undefined || !(handle instanceof SftpFileHandle) || handle.instance !== this.instance) return undefined;
    let raw: Buffer;
    try {
      raw = handle.raw('adopt');
    } catch {
      return undefined; // closed
    }
    return new SftpFileHandle(this.sftp, this.#errno, handle.path, raw, this.instance);
  }

  /** @inheritDoc */
  async stat(path: string): Promise<FileStat> {
    try {
      return toFileStat(await this.sftp.stat(path));
    } catch (error) {
      throw await this.#errno.convert('stat', path, error);
    }
  }

  /** @inheritDoc */
  async lstat(path: string): Promise<FileStat> {
    try {
      return toFileStat(await this.sftp.lstat(path));
    } catch (error) {
      throw await this.#errno.convert('lstat', path, error);
    }
  }

  /** @inheritDoc */
  async readdir(path: string): Promise<DirEntry[]> {
    if (this.sftp.has(RMOUNT_EXT.READDIR)) {
      try {
        return (await this.sftp.rmount.readdir(path)).map(e => ({ name: e.path, stat: toFileStat(e.attrs) }));
      } catch (error) {
        throw await this.#errno.convert('readdir', path, error);
      }
    }
    let handle: Buffer;
    try {
      handle = await this.sftp.opendir(path);
    } catch (error) {
      throw await this.#errno.convert('readdir', path, error, this.#errno.readdir(path));
    }
    let names;
    try {
      // Several READDIRs in flight on the handle: one round trip for folders up to ~8 batches.
      names = await this.sftp.readdirAll(handle);
    } catch (error) {
      throw await this.#errno.convert('readdir', path, error);
    } finally {
      // The listing is complete (or failed) whatever CLOSE answers, so nobody waits for it; its
      // failure (e.g. the connection dropped) is deliberately ignored, never left unhandled.
      this.sftp.close(handle).catch(() => undefined);
    }
    const entries: DirEntry[] = [];
    for (const n of names) {
      if (n.filename === '.' || n.filename === '..') continue;
      entries.push({ name: n.filename, stat: toFileStat(n.attrs) });
    }
    return entries;
  }

  /** @inheritDoc */
  async readlink(path: string): Promise<string> {
    try {
      return await this.sftp.readlink(path);
    } catch (error) {
      throw await this.#errno.convert('readlink', path, error, this.#errno.readlink(path));
    }
  }

  /** @inheritDoc */
  async mkdir(path: string, mode = 0o777): Promise<void> {
    try {
      await this.sftp.mkdir(path, { permissions: mode & 0o7777 });
    } catch (error) {
      throw await this.#errno.convert('mkdir', path, error, this.#errno.create(path));
    }
  }

  /** @inheritDoc */
  async rmdir(path: string): Promise<void> {
    try {
      await this.sftp.rmdir(path);
    } catch (error) {
      throw await this.#errno.convert('rmdir', path, error, this.#errno.rmdir(path));
    }
  }

  /** @inheritDoc */
  async unlink(path: string): Promise<void> {
    try {
      await this.sftp.remove(path);
    } catch (error) {
      throw await this.#errno.convert('unlink', path, error, this.#errno.unlink(path));
    }
  }

  /**
   * Renames with POSIX semantics through posix-rename@openssh.com. Without it, an existing target
   * is moved aside first (not atomic, as sshfs's workaround). `noReplace` uses the v3 RENAME,
   * which never replaces, after an lstat of the target.
   */
  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    try {
      if (options.noReplace) {
        if ((await this.#errno.probe(to)) !== undefined) throw new FsError('EEXIST', 'rename', to);
        await this.sftp.rename(from, to);
      } else if (this.capabilities.posixRename) {
        await this.sftp.posixRename(from, to);
      } else {
        await this.#renameReplacing(from, to);
      }
    } catch (error) {
      throw await this.#errno.convert('rename', from, error, this.#errno.rename(from, to, options), [from, to]);
    }
  }

  async #renameReplacing(from: string, to: string): Promise<void> {
    try {
      await this.sftp.rename(from, to);
      return;
    } catch (error) {
      if (!(error instanceof SftpStatusError) || error.status !== STATUS.FAILURE) throw error;
      const [a, b] = await Promise.all([this.#errno.probe(from), this.#errno.probe(to)]);
      if (a === undefined || b === undefined) throw error;
      // rename(2)'s checks, made before anything moves.
      if (isDir(b) && !isDir(a)) throw new FsError('EISDIR', 'rename', to, { cause: error });
      if (!isDir(b) && isDir(a)) throw new FsError('ENOTDIR', 'rename', to, { cause: error });
      if (isDir(b) && !(await this.#isEmptyDir(to))) throw new FsError('ENOTEMPTY', 'rename', to, { cause: error });
    }
    const aside = `${to}.rmount-${process.pid}-${Date.now().toString(36)}`;
    await this.sftp.rename(to, aside);
    try {
      await this.sftp.rename(from, to);
    } catch (error) {
      await this.sftp.rename(aside, to).catch(() => undefined);
      throw error;
    }
    const a = await this.sftp.lstat(aside);
    await (isDir(a) ? this.sftp.rmdir(aside) : this.sftp.remove(aside));
  }

  async #isEmptyDir(path: string): Promise<boolean> {
    const handle = await this.sftp.opendir(path);
    try {
      const names = await this.sftp.readdirAll(handle);
      return names.every(n => n.filename === '.' || n.filename === '..');
    } finally {
      await this.sftp.close(handle);
    }
  }

  /** @inheritDoc */
  async symlink(target: string, path: string): Promise<void> {
    try {
      await this.sftp.symlink(target, path);
    } catch (error) {
      throw await this.#errno.convert('symlink', path, error, this.#errno.create(path), [target, path]);
    }
  }

  /**
   * Makes a FIFO, socket file, device node or empty regular file through mknod@rmount.
   * @throws FsError EPERM without the extension: plain SFTP has no request for special files.
   */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    if (!this.capabilities.specialFiles) throw new FsError('EPERM', 'mknod', path);
    try {
      await this.sftp.rmount.mknod(path, mode, rdev);
    } catch (error) {
      throw await this.#errno.convert('mknod', path, error, this.#errno.create(path));
    }
  }

  /** A whole small file in one request through putfile@rmount. @throws FsError ENOTSUP without it. */
  async putFile(path: string, data: Uint8Array, options: PutFileOptions): Promise<void> {
    if (this.capabilities.putFile !== true) throw new FsError('ENOTSUP', 'putFile', path);
    try {
      await this.sftp.rmount.putFile(path, data, options);
    } catch (error) {
      throw await this.#errno.convert('putFile', path, error, this.#errno.create(path));
    }
  }

  /**
   * Many changes in one request through batch@rmount. Each failed item is converted as its own
   * call's failure would be, but without the refinements that ask the server again: the agent names
   * the exact errno of every item, and a round trip per failed item would undo the point.
   * @throws FsError ENOTSUP without the extension; EINVAL past BATCH_MAX_OPS or BATCH_MAX_BYTES.
   */
  async batch(ops: readonly BatchOp[]): Promise<(FsError | undefined)[]> {
    const first = ops[0] === undefined ? undefined : batchOpPath(ops[0]);
    if (this.capabilities.batch !== true) throw new FsError('ENOTSUP', 'batch', first);
    if (ops.length === 0) return [];
    if (ops.length > BATCH_MAX_OPS || ops.reduce((n, op) => n + batchOpBytes(op), 0) > BATCH_MAX_BYTES) {
      throw new FsError('EINVAL', 'batch', first);
    }
    let statuses;
    try {
      statuses = await this.sftp.rmount.batch(ops);
    } catch (error) {
      throw await this.#errno.convert('batch', first, error);
    }
    return Promise.all(statuses.map((status, i) => {
      if (status === undefined) return undefined;
      const op = ops[i]!;
      return this.#errno.convert(op.kind, batchOpPath(op), status, undefined, batchOpPaths(op));
    }));
  }

  /** @inheritDoc */
  async link(existing: string, newPath: string): Promise<void> {
    if (!this.capabilities.hardlink) throw new FsError('ENOSYS', 'link', newPath);
    try {
      await this.sftp.hardlink(existing, newPath);
    } catch (error) {
      throw await this.#errno.convert('link', newPath, error, this.#errno.create(newPath, existing), [existing, newPath]);
    }
  }

  /**
   * v3 sets uid with gid and atime with mtime; when only one of a pair is given, the other is read
   * first so that it is kept. `noFollow` needs lsetstat@openssh.com (ENOTSUP without it).
   */
  async setattr(path: string, attrs: SetAttr, options: SetAttrOptions = {}): Promise<void> {
    if (options.noFollow && !this.capabilities.noFollowSetattr) throw new FsError('ENOTSUP', 'setattr', path);
    try {
      if (this.sftp.has(RMOUNT_EXT.SETSTAT)) {
        await this.sftp.rmount.setstat(path, options.noFollow ? RMOUNT_SETSTAT_FLAG.NOFOLLOW : 0, toSetstatNs(attrs));
      } else {
        const current = needsCurrent(attrs) ? await (options.noFollow ? this.sftp.lstat(path) : this.sftp.stat(path)) : undefined;
        const a = toSftpAttrs(attrs, current);
        await (options.noFollow ? this.sftp.lsetstat(path, a) : this.sftp.setstat(path, a));
      }
    } catch (error) {
      throw await this.#errno.convert('setattr', path, error, this.#errno.setattr(path, attrs));
    }
  }

  /** @inheritDoc */
  async statfs(path: string): Promise<StatFs> {
    try {
      if (this.capabilities.statvfs) return toStatFs(await this.sftp.statvfs(path));
      await this.sftp.lstat(path);
      return { ...MADE_UP_STATFS };
    } catch (error) {
      throw await this.#errno.convert('statfs', path, error);
    }
  }

  /**
   * Canonical absolute path. `~` and `~/x` go through expand-path@openssh.com when offered, else
   * through the login folder (realpath of `.`, the home folder on OpenSSH).
   */
  async realpath(path: string): Promise<string> {
    try {
      if (path === '~' || path.startsWith('~/')) {
        if (this.capabilities.expandPath) return await this.sftp.expandPath(path);
        const home = await this.sftp.realpath('.');
        return path === '~' ? home : await this.sftp.realpath(`${home.replace(/\/$/, '')}/${path.slice(2)}`);
      }
      return await this.sftp.realpath(path);
    } catch (error) {
      throw await this.#errno.convert('realpath', path, error);
    }
  }

  /**
   * Server-side copy of `length` bytes (0: to the end of the source) between two open handles of
   * this client, through copy-data. @throws FsError ENOTSUP without the extension; EBADF.
   */
  async copyData(from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number): Promise<void> {
    if (!this.capabilities.copyData) throw new FsError('ENOTSUP', 'copyData', from.path);
    if (!(from instanceof SftpFileHandle) || !(to instanceof SftpFileHandle)) throw new FsError('EBADF', 'copyData', from.path);
    const src = from.raw('copyData');
    const dst = to.raw('copyData');
    try {
      await this.sftp.copyData(src, fromOffset, length, dst, toOffset);
    } catch (error) {
      throw await this.#errno.convert('copyData', to.path, error);
    }
  }

  /**
   * Subscribes to changes under `root` through watch@rmount. Events arrive pushed by the server,
   * coalesced over ~50 ms; a rescan event means some were lost.
   * @throws FsError ENOTSUP without the extension; ENOENT/ENOTDIR for a bad root.
   */
  async watch(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription> {
    if (!this.capabilities.watch) throw new FsError('ENOTSUP', 'watch', root);
    this.sftp.rmount.setEventListener(this.#onEvent);
    let id: number;
    try {
      id = await this.sftp.rmount.watch(root);
    } catch (error) {
      throw await this.#errno.convert('watch', root, error);
    }
    const base = root.endsWith('/') && root !== '/' ? root.slice(0, -1) : root;
    const target: WatchTarget = { base, listener, unwatched: false };
    this.#watchers.set(id, target);
    let closed = false;
    return {
      live: () => !closed && !this.sftp.closed && !target.unwatched,
      barrier: async () => {
        if (closed || this.sftp.closed || target.unwatched || !this.sftp.has(RMOUNT_EXT.WATCH_SYNC)) return false;
        try {
          await this.sftp.rmount.watchSync(id);
          return !closed && !target.unwatched;
        } catch {
          return false;
        }
      },
      close: async () => {
        if (closed) return;
        closed = true;
        this.#watchers.delete(id);
        if (!this.sftp.closed) await this.sftp.rmount.unwatch(id).catch(() => undefined);
      },
    };
  }

  readonly #watchers = new Map<number, WatchTarget>();

  #onEvent = (r: PacketReader): void => deliverWatchEvents(r, this.#watchers);

  /**
   * A whole subtree's paths (relative to `path`) and attributes in one round trip (tree@rmount).
   * @throws FsError ENOTSUP without the extension; ENOENT, ENOTDIR.
   */
  async tree(path: string, options: { maxDepth?: number; maxEntries?: number } = {}): Promise<{ truncated: boolean; entries: DirEntry[] }> {
    if (!this.sftp.has(RMOUNT_EXT.TREE)) throw new FsError('ENOTSUP', 'tree', path);
    try {
      const { truncated, entries } = await this.sftp.rmount.tree(path, options.maxDepth ?? 0, options.maxEntries ?? 0);
      return { truncated, entries: entries.map((e: SftpTreeEntry) => ({ name: e.path, stat: toFileStat(e.attrs) })) };
    } catch (error) {
      throw await this.#errno.convert('tree', path, error);
    }
  }

  /**
   * Complete listings of `path` and the folders below it in one request (listings@rmount), each
   * folder named by its absolute path.
   * @throws FsError ENOTSUP without the extension; EINVAL for bounds that are no counts; ENOENT,
   * ENOTDIR, EACCES for `path`; EOVERFLOW when `path`'s own listing passes the agent's 32 MiB.
   */
  async subtree(path: string, bounds: SubtreeBounds): Promise<Subtree> {
    if (this.capabilities.subtree !== true) throw new FsError('ENOTSUP', 'subtree', path);
    const maxDepth = bounds.maxDepth ?? 0;
    if (!isCount(bounds.maxEntries) || bounds.maxEntries < 1 || !isCount(maxDepth)) throw new FsError('EINVAL', 'subtree', path);
    let got: SftpListings;
    try {
      got = await this.sftp.rmount.listings(path, toU32Bound(maxDepth), toU32Bound(bounds.maxEntries));
    } catch (error) {
      throw await this.#errno.convert('subtree', path, error);
    }
    return {
      truncated: got.truncated,
      folders: got.folders.map(f => ({
        path: below(path, f.folder),
        entries: f.entries.map(e => ({ name: e.path, stat: toFileStat(e.attrs) })),
      })),
    };
  }

  /**
   * The first `maxBytes` of each file and its attributes in one request (readfiles@rmount); a file
   * that cannot be read carries the errno name the agent sent as its FsError.
   * @throws FsError ENOTSUP without the extension; EINVAL past READ_FILES_MAX paths or 1 MiB.
   */
  async readFiles(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]> {
    if (this.capabilities.readFiles !== true) throw new FsError('ENOTSUP', 'readFiles', paths[0]);
    if (paths.length > READ_FILES_MAX || !isCount(maxBytes) || maxBytes > READ_FILES_MAX_BYTES) {
      throw new FsError('EINVAL', 'readFiles', paths[0]);
    }
    if (paths.length === 0) return [];
    return this.#readFiles(paths, maxBytes);
  }

  async #readFiles(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]> {
    const maxPacket = this.sftp.limits.maxPacket;
    if (paths.length > 1 && maxPacket > 0 && readFilesRequestBytes(paths) > maxPacket) return this.#readHalves(paths, maxBytes);
    let got: SftpSmallFile[];
    try {
      got = await this.sftp.rmount.readFiles(paths, maxBytes);
    } catch (error) {
      // The agent refuses a reply past 32 MiB as a whole, so fewer files at a time fit.
      if (paths.length > 1 && error instanceof SftpStatusError && error.serverMessage === 'EOVERFLOW') return this.#readHalves(paths, maxBytes);
      throw await this.#errno.convert('readFiles', paths[0], error);
    }
    return got.map((f, i) => f.error !== undefined
      ? { path: paths[i]!, error: smallFileError(f.error, paths[i]!) }
      : { path: paths[i]!, stat: toFileStat(f.attrs!), data: f.data! });
  }

  async #readHalves(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]> {
    const half = Math.ceil(paths.length / 2);
    const [a, b] = await Promise.all([this.#readFiles(paths.slice(0, half), maxBytes), this.#readFiles(paths.slice(half), maxBytes)]);
    return [...a, ...b];
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    this.#watchers.clear();
    // A durable agent session would otherwise keep its files open for its grace period. Bounded:
    // over a dead link the reply never comes, and the session then ends by itself.
    if (this.sftp.has(RMOUNT_EXT.END)) {
      await Promise.race([this.sftp.rmount.end().catch(() => undefined), sleep(END_WAIT_MS, undefined, { ref: false })]);
    }
    await this.sftp.end();
  }

}

/** Every path a batch item names, for the ENAMETOOLONG check of `SftpErrno.convert`. */
function batchOpPaths(op: BatchOp): string[] {
  switch (op.kind) {
    case 'rename': return [op.from, op.to];
    case 'link': return [op.existing, op.path];
    case 'symlink': return [op.target, op.path];
    default: return [op.path];
  }
}

/** A readfiles@rmount entry's failure: the agent names the errno; anything else it sends is EIO. */
function smallFileError(name: string, path: string): FsError {
  return new FsError(isErrnoName(name) ? name : 'EIO', 'readFiles', path);
}

/** Largest `maxBytes` of one readFiles call, as FileClient.readFiles allows it (the agent's maxIO). */
const READ_FILES_MAX_BYTES = 1024 * 1024;

/** True for a non-negative integer. */
function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** A bound as the agent's uint32 field, where 0 is no limit: anything past it is no limit either. */
function toU32Bound(n: number): number {
  return n > 0xffff_ffff ? 0 : n;
}

/** The absolute path of folder `rel` of a listings@rmount reply for `base` ("" is `base` itself). */
function below(base: string, rel: string): string {
  if (rel === '') return base;
  return `${base.endsWith('/') ? base.slice(0, -1) : base}/${rel}`;
}

/** Bytes of a readfiles@rmount request for `paths`, header included. */
function readFilesRequestBytes(paths: readonly string[]): number {
  return 64 + paths.reduce((n, p) => n + 4 + Buffer.byteLength(p), 0);
}
