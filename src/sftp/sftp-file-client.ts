/**
 * The FileClient contract over the SFTP v3 codec. Errors become FsError here, once, with the SFTP
 * error kept as `cause`; large reads and writes are split at the negotiated limits and pipelined.
 */

import type { Duplex } from 'node:stream';
import {
  S_IFDIR,
  S_IFMT,
  type DirEntry,
  type FileCapabilities,
  type FileClient,
  type FileHandle,
  type FileStat,
  type OpenFlags,
  type RenameOptions,
  type SetAttr,
  type SetAttrOptions,
  type StatFs,
  type Timespec,
  type WatchEvent,
  type WatchEventKind,
  type WatchSubscription,
} from '../remote/file-client.ts';
import { FsError, isErrnoName, type ErrnoName } from '../remote/fs-error.ts';
import { EXT, PFLAG, RMOUNT_EXT, RMOUNT_SETSTAT_FLAG, STATUS, WATCH_MASK } from './constants.ts';
import type { PacketReader, SftpAttrs } from './packet.ts';
import { SftpClient, type SftpSetstatNs, type SftpSmallFile, type SftpStatvfs, type SftpTreeEntry } from './sftp-client.ts';
import { SftpConnectionError, SftpStatusError, sftpErrno } from './status.ts';

/** Options of `SftpFileClient.over`. */
export interface SftpFileClientOptions {
  /** Cap on read and write bytes awaiting a reply, per client (default 8 MiB). */
  maxBytesInFlight?: number;
  /** A label for messages, such as "sftp over ssh://host". */
  name?: string;
  /** Aborts the handshake. */
  signal?: AbortSignal;
}

/** Totals reported by `statfs` when the server has no statvfs@openssh.com (as sshfs does). */
const MADE_UP_STATFS: StatFs = {
  bsize: 4096,
  frsize: 4096,
  blocks: 2 ** 31,
  bfree: 2 ** 30,
  bavail: 2 ** 30,
  files: 2 ** 24,
  ffree: 2 ** 23,
  favail: 2 ** 23,
  flag: 0,
  namemax: 255,
};

const UINT32_MAX = 0xffff_ffff;

type Refine = (status: number) => Promise<ErrnoName | undefined>;

/** Size of the attrs@rmount data: 5 × uint64, then 3 × (int64 sec, uint32 nsec). */
const RMOUNT_ATTRS_SIZE = 5 * 8 + 3 * 12;

/**
 * SFTP ATTRS → FileStat. v3 has no inode, link count, ctime or nanoseconds: those stay absent,
 * unless rmount-agent's attrs@rmount pair carries them.
 */
export function toFileStat(a: SftpAttrs): FileStat {
  const st: FileStat = {
    mode: a.permissions ?? 0,
    size: a.size ?? 0,
    uid: a.uid ?? 0,
    gid: a.gid ?? 0,
    atime: { sec: a.atime ?? 0, nsec: 0 },
    mtime: { sec: a.mtime ?? 0, nsec: 0 },
  };
  const ext = a.extended?.find(([name]) => name === RMOUNT_EXT.ATTRS)?.[1];
  if (ext !== undefined && ext.length >= RMOUNT_ATTRS_SIZE) {
    const u64 = (at: number): number => Number(ext.readBigUInt64BE(at));
    const time = (at: number): Timespec => ({ sec: Number(ext.readBigInt64BE(at)), nsec: ext.readUInt32BE(at + 8) });
    st.ino = u64(0);
    st.nlink = u64(8);
    st.rdev = u64(24);
    st.blocks = u64(32);
    st.atime = time(40);
    st.mtime = time(52);
    st.ctime = time(64);
  }
  return st;
}

function toStatFs(v: SftpStatvfs): StatFs {
  return {
    bsize: v.bsize,
    frsize: v.frsize,
    blocks: v.blocks,
    bfree: v.bfree,
    bavail: v.bavail,
    files: v.files,
    ffree: v.ffree,
    favail: v.favail,
    flag: v.flag,
    namemax: v.namemax,
  };
}

function toPflags(flags: OpenFlags): number {
  let p = 0;
  if (flags.read) p |= PFLAG.READ;
  if (flags.write || flags.append) p |= PFLAG.WRITE;
  if (flags.append) p |= PFLAG.APPEND;
  if (flags.create) p |= PFLAG.CREAT;
  if (flags.create && flags.exclusive) p |= PFLAG.EXCL;
  if (flags.truncate) p |= PFLAG.TRUNC;
  return p;
}

function seconds(t: Timespec | 'now'): number {
  const sec = t === 'now' ? Math.floor(Date.now() / 1000) : t.sec;
  return Math.min(Math.max(Math.floor(sec), 0), UINT32_MAX);
}

function isDir(a: SftpAttrs | undefined): boolean {
  return a?.permissions !== undefined && (a.permissions & S_IFMT) === S_IFDIR;
}

/** Splits `[0, length)` into pieces of at most `max` bytes. */
function pieces(length: number, max: number): Array<[start: number, size: number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < length; start += max) out.push([start, Math.min(max, length - start)]);
  return out;
}

/** Waits for every promise, then throws the first failure (so no piece is still running). */
async function allOrFirstError<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find(s => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return settled.map(s => (s as PromiseFulfilledResult<T>).value);
}

/**
 * A FileClient over SFTP v3 on any duplex stream: an SSH `sftp` subsystem channel, an agent's
 * stdio, a spawned `sftp-server`. The stream is handed in and never opened here; `close()` ends it.
 */
export class SftpFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  /** The protocol client underneath, for callers that need SFTP-level access. */
  readonly sftp: SftpClient;

  private constructor(sftp: SftpClient) {
    this.sftp = sftp;
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
      nanoseconds: sftp.has(RMOUNT_EXT.ATTRS) && sftp.has(RMOUNT_EXT.SETSTAT),
      maxRead: sftp.limits.maxRead,
      maxWrite: sftp.limits.maxWrite,
    });
  }

  /**
   * Runs the SFTP handshake over `stream` and resolves with a ready client.
   * @throws FsError ENOTCONN when the stream closes first or does not speak SFTP v3.
   */
  static async over(stream: Duplex, options: SftpFileClientOptions = {}): Promise<SftpFileClient> {
    try {
      return new SftpFileClient(await SftpClient.connect(stream, options));
    } catch (error) {
      throw new FsError('ENOTCONN', 'connect', undefined, { cause: error });
    }
  }

  /** Extensions the server advertised: name → version data. */
  get extensions(): ReadonlyMap<string, string> {
    return this.sftp.extensions;
  }

  /** Converts an SFTP failure into the FsError of `op`, asking `refine` to sharpen a FAILURE. */
  async #error(op: string, path: string | undefined, error: unknown, refine?: Refine): Promise<FsError> {
    if (error instanceof FsError) return error;
    if (error instanceof SftpStatusError) {
      let code = sftpErrno(error.status, op, error.serverMessage);
      if (refine !== undefined && !isErrnoName(error.serverMessage) && !this.sftp.closed) {
        try {
          code = (await refine(error.status)) ?? code;
        } catch {
          // The refinement is a best effort; the table's answer stands.
        }
      }
      return new FsError(code, op, path, { cause: error });
    }
    if (error instanceof SftpConnectionError) return new FsError('ENOTCONN', op, path, { cause: error });
    return new FsError('EIO', op, path, { cause: error });
  }

  /** lstat that answers undefined instead of failing. */
  async #probe(path: string): Promise<SftpAttrs | undefined> {
    try {
      return await this.sftp.lstat(path);
    } catch {
      return undefined;
    }
  }

  /** OpenSSH folds EEXIST into FAILURE: an lstat tells whether that was the cause. */
  #existsRefine(path: string): Refine {
    return async status => (status === STATUS.FAILURE && (await this.#probe(path)) !== undefined ? 'EEXIST' : undefined);
  }

  /** @inheritDoc */
  async open(path: string, flags: OpenFlags, mode = 0o666): Promise<FileHandle> {
    const attrs: SftpAttrs = flags.create ? { permissions: mode & 0o7777 } : {};
    try {
      const handle = await this.sftp.open(path, toPflags(flags), attrs);
      return new SftpFileHandle(this, path, handle);
    } catch (error) {
      throw await this.#error('open', path, error, async status => {
        if (status !== STATUS.FAILURE) return undefined;
        const a = await this.#probe(path);
        if (a === undefined) return undefined;
        if (flags.create && flags.exclusive) return 'EEXIST';
        // open(2) of a directory for writing is EISDIR; a symlink to one is caught by stat.
        if (isDir(a) || isDir(await this.sftp.stat(path))) return 'EISDIR';
        return undefined;
      });
    }
  }

  /** @inheritDoc */
  async stat(path: string): Promise<FileStat> {
    try {
      return toFileStat(await this.sftp.stat(path));
    } catch (error) {
      throw await this.#error('stat', path, error);
    }
  }

  /** @inheritDoc */
  async lstat(path: string): Promise<FileStat> {
    try {
      return toFileStat(await this.sftp.lstat(path));
    } catch (error) {
      throw await this.#error('lstat', path, error);
    }
  }

  /** @inheritDoc */
  async readdir(path: string): Promise<DirEntry[]> {
    if (this.sftp.has(RMOUNT_EXT.READDIR)) {
      try {
        return (await this.sftp.readdirAt(path)).map(e => ({ name: e.path, stat: toFileStat(e.attrs) }));
      } catch (error) {
        throw await this.#error('readdir', path, error);
      }
    }
    let handle: Buffer;
    try {
      handle = await this.sftp.opendir(path);
    } catch (error) {
      throw await this.#error('readdir', path, error, async status => {
        if (status !== STATUS.NO_SUCH_FILE && status !== STATUS.FAILURE) return undefined;
        const a = await this.#probe(path);
        return a !== undefined && !isDir(a) && !isDir(await this.sftp.stat(path)) ? 'ENOTDIR' : undefined;
      });
    }
    let names;
    try {
      // Several READDIRs in flight on the handle: one round trip for folders up to ~8 batches.
      names = await this.sftp.readdirAll(handle);
    } catch (error) {
      throw await this.#error('readdir', path, error);
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
      throw await this.#error('readlink', path, error, async () => ((await this.#probe(path)) !== undefined ? 'EINVAL' : undefined));
    }
  }

  /** @inheritDoc */
  async mkdir(path: string, mode = 0o777): Promise<void> {
    try {
      await this.sftp.mkdir(path, { permissions: mode & 0o7777 });
    } catch (error) {
      throw await this.#error('mkdir', path, error, this.#existsRefine(path));
    }
  }

  /** @inheritDoc */
  async rmdir(path: string): Promise<void> {
    try {
      await this.sftp.rmdir(path);
    } catch (error) {
      // OpenSSH reports ENOTDIR as NO_SUCH_FILE.
      throw await this.#error('rmdir', path, error, async status => {
        if (status !== STATUS.NO_SUCH_FILE) return undefined;
        const a = await this.#probe(path);
        return a !== undefined && !isDir(a) ? 'ENOTDIR' : undefined;
      });
    }
  }

  /** @inheritDoc */
  async unlink(path: string): Promise<void> {
    try {
      await this.sftp.remove(path);
    } catch (error) {
      throw await this.#error('unlink', path, error, async status =>
        status === STATUS.FAILURE && isDir(await this.#probe(path)) ? 'EISDIR' : undefined);
    }
  }

  /**
   * Renames with POSIX semantics through posix-rename@openssh.com. Without it, an existing target
   * is moved aside first (not atomic, as sshfs's workaround). `noReplace` uses the v3 RENAME,
   * which never replaces, after an lstat of the target.
   */
  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const refine: Refine = async status => {
      if (status !== STATUS.FAILURE) return undefined;
      const [a, b] = await Promise.all([this.#probe(from), this.#probe(to)]);
      if (a === undefined) return undefined;
      if (to.startsWith(`${from}/`)) return 'EINVAL';
      if (b === undefined) return undefined;
      if (options.noReplace) return 'EEXIST';
      if (isDir(a)) return isDir(b) ? 'ENOTEMPTY' : 'ENOTDIR';
      return isDir(b) ? 'EISDIR' : undefined;
    };
    try {
      if (options.noReplace) {
        if ((await this.#probe(to)) !== undefined) throw new FsError('EEXIST', 'rename', to);
        await this.sftp.rename(from, to);
      } else if (this.capabilities.posixRename) {
        await this.sftp.posixRename(from, to);
      } else {
        await this.#renameReplacing(from, to);
      }
    } catch (error) {
      throw await this.#error('rename', from, error, refine);
    }
  }

  async #renameReplacing(from: string, to: string): Promise<void> {
    try {
      await this.sftp.rename(from, to);
      return;
    } catch (error) {
      if (!(error instanceof SftpStatusError) || error.status !== STATUS.FAILURE) throw error;
      const [a, b] = await Promise.all([this.#probe(from), this.#probe(to)]);
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
      throw await this.#error('symlink', path, error, this.#existsRefine(path));
    }
  }

  /** @inheritDoc */
  async link(existing: string, newPath: string): Promise<void> {
    if (!this.capabilities.hardlink) throw new FsError('ENOSYS', 'link', newPath);
    try {
      await this.sftp.hardlink(existing, newPath);
    } catch (error) {
      throw await this.#error('link', newPath, error, this.#existsRefine(newPath));
    }
  }

  /**
   * v3 sets uid with gid and atime with mtime; when only one of a pair is given, the other is read
   * first so that it is kept. `noFollow` needs lsetstat@openssh.com (ENOTSUP without it).
   */
  async setattr(path: string, attrs: SetAttr, options: SetAttrOptions = {}): Promise<void> {
    if (options.noFollow && !this.capabilities.noFollowSetattr) throw new FsError('ENOTSUP', 'setattr', path);
    if (this.sftp.has(RMOUNT_EXT.SETSTAT)) {
      try {
        await this.sftp.setstatNs(path, options.noFollow ? RMOUNT_SETSTAT_FLAG.NOFOLLOW : 0, toSetstatNs(attrs));
      } catch (error) {
        throw await this.#error('setattr', path, error);
      }
      return;
    }
    try {
      const current = needsCurrent(attrs) ? await (options.noFollow ? this.sftp.lstat(path) : this.sftp.stat(path)) : undefined;
      const a = toSftpAttrs(attrs, current);
      await (options.noFollow ? this.sftp.lsetstat(path, a) : this.sftp.setstat(path, a));
    } catch (error) {
      throw await this.#error('setattr', path, error);
    }
  }

  /** @inheritDoc */
  async statfs(path: string): Promise<StatFs> {
    try {
      if (this.capabilities.statvfs) return toStatFs(await this.sftp.statvfs(path));
      await this.sftp.lstat(path);
      return { ...MADE_UP_STATFS };
    } catch (error) {
      throw await this.#error('statfs', path, error);
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
      throw await this.#error('realpath', path, error);
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
      throw await this.#error('copyData', to.path, error);
    }
  }

  /**
   * Subscribes to changes under `root` through watch@rmount. Events arrive pushed by the server,
   * coalesced over ~50 ms; a rescan event means some were lost.
   * @throws FsError ENOTSUP without the extension; ENOENT/ENOTDIR for a bad root.
   */
  async watch(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription> {
    if (!this.capabilities.watch) throw new FsError('ENOTSUP', 'watch', root);
    this.sftp.setEventListener(this.#onEvent);
    let id: number;
    try {
      id = await this.sftp.watch(root);
    } catch (error) {
      throw await this.#error('watch', root, error);
    }
    const base = root.endsWith('/') && root !== '/' ? root.slice(0, -1) : root;
    this.#watchers.set(id, { base, listener });
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        this.#watchers.delete(id);
        if (!this.sftp.closed) await this.sftp.unwatch(id).catch(() => undefined);
      },
    };
  }

  readonly #watchers = new Map<number, { base: string; listener: (events: WatchEvent[]) => void }>();

  // string "watch@rmount", uint32 watch-id, uint32 count, (uint32 mask, string path)*
  #onEvent = (r: PacketReader): void => {
    try {
      if (r.string() !== RMOUNT_EXT.WATCH) return;
      const w = this.#watchers.get(r.u32());
      if (w === undefined) return;
      const n = r.u32();
      const events: WatchEvent[] = [];
      for (let i = 0; i < n; i++) {
        const mask = r.u32();
        const rel = r.string();
        const path = rel === '' ? w.base : w.base === '/' ? `/${rel}` : `${w.base}/${rel}`;
        const kinds: WatchEventKind[] = [];
        if (mask & WATCH_MASK.CREATE) kinds.push('create');
        if (mask & WATCH_MASK.REMOVE) kinds.push('remove');
        if (mask & WATCH_MASK.MODIFY) kinds.push('modify');
        if (mask & WATCH_MASK.ATTRIB) kinds.push('attrib');
        if (mask & WATCH_MASK.RENAME) kinds.push('rename');
        events.push({ path, kinds, rescan: (mask & WATCH_MASK.RESCAN) !== 0 });
      }
      if (events.length > 0) w.listener(events);
    } catch {
      // A malformed event is dropped; the request stream is unaffected.
    }
  };

  /**
   * A whole subtree's paths (relative to `path`) and attributes in one round trip (tree@rmount).
   * @throws FsError ENOTSUP without the extension; ENOENT, ENOTDIR.
   */
  async tree(path: string, options: { maxDepth?: number; maxEntries?: number } = {}): Promise<{ truncated: boolean; entries: DirEntry[] }> {
    if (!this.sftp.has(RMOUNT_EXT.TREE)) throw new FsError('ENOTSUP', 'tree', path);
    try {
      const { truncated, entries } = await this.sftp.tree(path, options.maxDepth ?? 0, options.maxEntries ?? 0);
      return { truncated, entries: entries.map((e: SftpTreeEntry) => ({ name: e.path, stat: toFileStat(e.attrs) })) };
    } catch (error) {
      throw await this.#error('tree', path, error);
    }
  }

  /**
   * The first `maxBytes` of each file and its attributes in one round trip (readfiles@rmount);
   * a file that cannot be read gets its errno name instead.
   * @throws FsError ENOTSUP without the extension.
   */
  async readFiles(paths: readonly string[], maxBytes = 64 * 1024): Promise<Array<{ path: string; error?: string; stat?: FileStat; data?: Buffer }>> {
    if (!this.sftp.has(RMOUNT_EXT.READFILES)) throw new FsError('ENOTSUP', 'readFiles', paths[0]);
    try {
      const got = await this.sftp.readFiles(paths, maxBytes);
      return got.map((f: SftpSmallFile, i) => f.error !== undefined
        ? { path: paths[i]!, error: f.error }
        : { path: paths[i]!, stat: toFileStat(f.attrs!), data: f.data! });
    } catch (error) {
      throw await this.#error('readFiles', paths[0] ?? '', error);
    }
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    this.#watchers.clear();
    await this.sftp.end();
  }

  /** @internal Error conversion shared with the handles. */
  convert(op: string, path: string, error: unknown, refine?: Refine): Promise<FsError> {
    return this.#error(op, path, error, refine);
  }
}

function toSetstatNs(s: SetAttr): SftpSetstatNs {
  const a: SftpSetstatNs = {};
  if (s.size !== undefined) a.size = s.size;
  if (s.mode !== undefined) a.mode = s.mode & 0o7777;
  if (s.uid !== undefined) a.uid = s.uid;
  if (s.gid !== undefined) a.gid = s.gid;
  if (s.atime !== undefined) a.atime = s.atime;
  if (s.mtime !== undefined) a.mtime = s.mtime;
  return a;
}

function needsCurrent(a: SetAttr): boolean {
  return (a.uid === undefined) !== (a.gid === undefined) || (a.atime === undefined) !== (a.mtime === undefined);
}

/** SetAttr → ATTRS, filling the missing half of a uid/gid or atime/mtime pair from `current`. */
function toSftpAttrs(s: SetAttr, current: SftpAttrs | undefined): SftpAttrs {
  const a: SftpAttrs = {};
  if (s.size !== undefined) a.size = s.size;
  if (s.mode !== undefined) a.permissions = s.mode & 0o7777;
  if (s.uid !== undefined || s.gid !== undefined) {
    a.uid = s.uid ?? current?.uid ?? UINT32_MAX;
    a.gid = s.gid ?? current?.gid ?? UINT32_MAX;
  }
  if (s.atime !== undefined || s.mtime !== undefined) {
    a.atime = s.atime !== undefined ? seconds(s.atime) : current?.atime ?? seconds('now');
    a.mtime = s.mtime !== undefined ? seconds(s.mtime) : current?.mtime ?? seconds('now');
  }
  return a;
}

/** An open SFTP file. Reads and writes larger than the negotiated limits are split and pipelined. */
export class SftpFileHandle implements FileHandle {
  readonly #client: SftpFileClient;
  #handle: Buffer | undefined;

  /** @internal Made by `SftpFileClient.open`. */
  constructor(client: SftpFileClient, readonly path: string, handle: Buffer) {
    this.#client = client;
    this.#handle = handle;
  }

  /** @internal The SFTP handle; throws EBADF once closed. */
  raw(op: string): Buffer {
    if (this.#handle === undefined) throw new FsError('EBADF', op, this.path);
    return this.#handle;
  }

  /** @inheritDoc */
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const h = this.raw('read');
    if (length <= 0) return 0;
    const sftp = this.#client.sftp;
    const max = sftp.limits.maxRead;
    try {
      const parts = pieces(length, max);
      const got = await allOrFirstError(parts.map(([start, size]) => sftp.read(h, position + start, size, buffer, offset + start)));
      let total = 0;
      for (let i = 0; i < parts.length; i++) {
        const [start, size] = parts[i]!;
        let n = got[i]!;
        if (n === 0) return total;
        // A server may answer short before EOF; finish this piece before trusting the next.
        while (n < size) {
          const more = await sftp.read(h, position + start + n, size - n, buffer, offset + start + n);
          if (more === 0) return total + n;
          n += more;
        }
        total += n;
      }
      return total;
    } catch (error) {
      throw await this.#client.convert('read', this.path, error, async status =>
        status === STATUS.FAILURE && isDir(await sftp.fstat(h)) ? 'EISDIR' : undefined);
    }
  }

  /** @inheritDoc */
  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    const h = this.raw('write');
    if (length <= 0) return;
    const sftp = this.#client.sftp;
    try {
      await allOrFirstError(pieces(length, sftp.limits.maxWrite).map(([start, size]) =>
        sftp.write(h, position + start, buffer, offset + start, size)));
    } catch (error) {
      throw await this.#client.convert('write', this.path, error);
    }
  }

  /** @inheritDoc */
  async stat(): Promise<FileStat> {
    const h = this.raw('stat');
    try {
      return toFileStat(await this.#client.sftp.fstat(h));
    } catch (error) {
      throw await this.#client.convert('stat', this.path, error);
    }
  }

  /** @inheritDoc */
  async setattr(attrs: SetAttr): Promise<void> {
    const h = this.raw('setattr');
    const sftp = this.#client.sftp;
    if (sftp.has(RMOUNT_EXT.SETSTAT)) {
      try {
        await sftp.setstatNs(h, RMOUNT_SETSTAT_FLAG.HANDLE, toSetstatNs(attrs));
      } catch (error) {
        throw await this.#client.convert('setattr', this.path, error);
      }
      return;
    }
    try {
      const current = needsCurrent(attrs) ? await sftp.fstat(h) : undefined;
      await sftp.fsetstat(h, toSftpAttrs(attrs, current));
    } catch (error) {
      throw await this.#client.convert('setattr', this.path, error);
    }
  }

  /** fsync@openssh.com, or a successful no-op when the server lacks it. */
  async sync(): Promise<void> {
    const h = this.raw('sync');
    if (!this.#client.capabilities.fsync) return;
    try {
      await this.#client.sftp.fsync(h);
    } catch (error) {
      throw await this.#client.convert('sync', this.path, error);
    }
  }

  /** Statistics of the file system holding this file (fstatvfs@openssh.com, else made up). */
  async statfs(): Promise<StatFs> {
    const h = this.raw('statfs');
    const sftp = this.#client.sftp;
    try {
      return sftp.has(EXT.FSTATVFS) ? toStatFs(await sftp.fstatvfs(h)) : { ...MADE_UP_STATFS };
    } catch (error) {
      throw await this.#client.convert('statfs', this.path, error);
    }
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    const h = this.#handle;
    if (h === undefined) return;
    this.#handle = undefined;
    try {
      await this.#client.sftp.close(h);
    } catch (error) {
      throw await this.#client.convert('close', this.path, error);
    }
  }
}
