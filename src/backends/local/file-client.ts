import { constants, type BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import { FsError } from '../../remote/fs-error.ts';
import type {
  DirEntry, FileCapabilities, FileClient, FileHandle, FileStat, OpenFlags, RenameOptions,
  SetAttr, SetAttrOptions, StatFs, Timespec,
} from '../../remote/file-client.ts';
import { isSymlinkMode } from '../../remote/file-client.ts';
import { toFsError } from './fs-errors.ts';
import { withShortPath, withShortPaths } from './long-path.ts';
import { loadPosix, NSEC_NOW, NSEC_OMIT, readUmask, type PosixBinding } from './posix.ts';

const NS = 1_000_000_000n;

function timespec(ns: bigint): Timespec {
  // BigInt division truncates toward zero; before 1970 the nanoseconds must still be 0..999999999.
  const nsec = ((ns % NS) + NS) % NS;
  return { sec: Number((ns - nsec) / NS), nsec: Number(nsec) };
}

/** node:fs BigIntStats → FileStat with nanosecond times and the real inode numbers. */
export function fileStatFromNode(st: BigIntStats): FileStat {
  return {
    mode: Number(st.mode), size: Number(st.size), uid: Number(st.uid), gid: Number(st.gid),
    atime: timespec(st.atimeNs), mtime: timespec(st.mtimeNs), ctime: timespec(st.ctimeNs),
    ino: Number(st.ino), dev: Number(st.dev), nlink: Number(st.nlink), rdev: Number(st.rdev), blocks: Number(st.blocks),
  };
}

function openMode(flags: OpenFlags): number {
  let f = flags.read && flags.write ? constants.O_RDWR : flags.write ? constants.O_WRONLY : constants.O_RDONLY;
  if (flags.append) f |= constants.O_APPEND;
  if (flags.create) f |= constants.O_CREAT;
  if (flags.create && flags.exclusive) f |= constants.O_EXCL;
  if (flags.truncate) f |= constants.O_TRUNC;
  return f;
}

// Directory listings stat their entries with this many lstat calls in flight.
const READDIR_STAT_CONCURRENCY = 64;

const S_ISGID = 0o2000;

/** Options of `LocalFileClient`. */
export interface LocalFileClientOptions {
  /** Used instead of build/Release/posix_binding.node (tests pass a fake). */
  posix?: PosixBinding;
}

/**
 * FileClient over node:fs: the embedded default backend and the reference implementation that the
 * contract suite holds every other client to.
 */
export class LocalFileClient implements FileClient {
  readonly capabilities: FileCapabilities = {
    fsync: true, hardlink: true, symlink: true, statvfs: true, posixRename: true,
    noFollowSetattr: true, copyData: false, expandPath: true, watch: false, inodes: true, specialFiles: true,
    nanoseconds: true,
    maxRead: 1 << 20, maxWrite: 1 << 20,
  };
  #closed = false;
  readonly #posix: PosixBinding;
  // The daemon's umask, read once. The kernel applied the caller's umask before the mode reached
  // us, so a create here must not lose more bits to ours; process.umask(0) would also loosen the
  // daemon's own sockets and logs.
  readonly #umask: number;

  constructor(options: LocalFileClientOptions = {}) {
    this.#posix = loadPosix(options.posix);
    this.#umask = readUmask();
  }

  /** True when our umask, or the kernel's handling of set-id bits, could give a new file another mode. */
  #mayAlter(mode: number): boolean {
    return (mode & (this.#umask | 0o7000)) !== 0;
  }

  #check(syscall: string, path?: string): void {
    if (this.#closed) throw new FsError('ENOTCONN', syscall, path);
  }

  async open(path: string, flags: OpenFlags, mode = 0o666): Promise<FileHandle> {
    this.#check('open', path);
    const perm = mode & 0o7777;
    try {
      const fh = await withShortPath(path, p => flags.create === true && this.#mayAlter(perm)
        ? createExact(p, flags, perm)
        : fsp.open(p, openMode(flags), perm));
      return new LocalFileHandle(path, fh, this.#posix);
    } catch (error) {
      throw toFsError(error, 'open', path);
    }
  }

  async stat(path: string): Promise<FileStat> {
    this.#check('stat', path);
    try { return fileStatFromNode(await withShortPath(path, p => fsp.stat(p, { bigint: true }))); } catch (e) { throw toFsError(e, 'stat', path); }
  }

  async lstat(path: string): Promise<FileStat> {
    this.#check('lstat', path);
    try { return fileStatFromNode(await withShortPath(path, p => fsp.lstat(p, { bigint: true }))); } catch (e) { throw toFsError(e, 'lstat', path); }
  }

  async readdir(path: string): Promise<DirEntry[]> {
    this.#check('readdir', path);
    return withShortPath(path, p => this.#readdir(p, path));
  }

  async #readdir(path: string, asked: string): Promise<DirEntry[]> {
    let names: string[];
    try { names = await fsp.readdir(path); } catch (e) { throw toFsError(e, 'readdir', asked); }
    const out: (DirEntry | undefined)[] = new Array(names.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const i = next++;
        const name = names[i]!;
        try {
          out[i] = { name, stat: fileStatFromNode(await fsp.lstat(posix.join(path, name), { bigint: true })) };
        } catch (e) {
          // Removed between readdir and lstat: leave it out, as a later readdir would.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toFsError(e, 'readdir', asked);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READDIR_STAT_CONCURRENCY, names.length) }, worker));
    return out.filter((e): e is DirEntry => e !== undefined);
  }

  async readlink(path: string): Promise<string> {
    this.#check('readlink', path);
    try { return await withShortPath(path, p => fsp.readlink(p)); } catch (e) { throw toFsError(e, 'readlink', path); }
  }

  async mkdir(path: string, mode = 0o777): Promise<void> {
    this.#check('mkdir', path);
    const perm = mode & 0o7777;
    try {
      await withShortPath(path, async p => {
        await fsp.mkdir(p, { mode: perm });
        if (this.#mayAlter(perm)) await setNewDirMode(p, perm);
      });
    } catch (e) {
      throw toFsError(e, 'mkdir', path);
    }
  }

  async rmdir(path: string): Promise<void> {
    this.#check('rmdir', path);
    try { await withShortPath(path, p => fsp.rmdir(p)); } catch (e) { throw toFsError(e, 'rmdir', path); }
  }

  async unlink(path: string): Promise<void> {
    this.#check('unlink', path);
    try { await withShortPath(path, p => fsp.unlink(p)); } catch (e) { throw toFsError(e, 'unlink', path); }
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    this.#check('rename', from);
    try {
      await withShortPaths(from, to, (f, t) => renameShort(f, t, options));
    } catch (e) {
      throw toFsError(e, 'rename', from);
    }
  }

  async symlink(target: string, path: string): Promise<void> {
    this.#check('symlink', path);
    try { await withShortPath(path, p => fsp.symlink(target, p)); } catch (e) { throw toFsError(e, 'symlink', path); }
  }

  async link(existing: string, newPath: string): Promise<void> {
    this.#check('link', newPath);
    try { await withShortPaths(existing, newPath, (a, b) => fsp.link(a, b)); } catch (e) { throw toFsError(e, 'link', newPath); }
  }

  async setattr(path: string, attrs: SetAttr, options: SetAttrOptions = {}): Promise<void> {
    this.#check('setattr', path);
    try {
      await withShortPath(path, p => this.#setattr(p, attrs, options));
    } catch (e) {
      throw toFsError(e, 'setattr', path);
    }
  }

  async #setattr(path: string, attrs: SetAttr, options: SetAttrOptions): Promise<void> {
    const noFollow = options.noFollow === true && isSymlinkMode(Number((await fsp.lstat(path)).mode));
    if (attrs.size !== undefined) {
      if (noFollow) throw new FsError('EINVAL', 'setattr', path);
      await fsp.truncate(path, attrs.size);
    }
    if (attrs.mode !== undefined) {
      // Linux cannot chmod a symlink itself (fchmodat AT_SYMLINK_NOFOLLOW gives EOPNOTSUPP).
      if (noFollow) throw new FsError('ENOTSUP', 'setattr', path);
      await fsp.chmod(path, attrs.mode & 0o7777);
    }
    if (attrs.uid !== undefined || attrs.gid !== undefined) {
      const st = await (noFollow ? fsp.lstat(path) : fsp.stat(path));
      const uid = attrs.uid ?? st.uid;
      const gid = attrs.gid ?? st.gid;
      await (noFollow ? fsp.lchown(path, uid, gid) : fsp.chown(path, uid, gid));
    }
    if (attrs.atime !== undefined || attrs.mtime !== undefined) {
      await this.#posix.utimensat(path, ...utimeArgs(attrs.atime), ...utimeArgs(attrs.mtime), noFollow);
    }
  }

  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    this.#check('mknod', path);
    const perm = mode & 0o7777;
    try {
      await withShortPath(path, async p => {
        await this.#posix.mknod(p, mode, rdev);
        // Our umask, not the caller's (the kernel applied that), must not take bits away.
        if (this.#mayAlter(perm)) await fsp.chmod(p, perm);
      });
    } catch (e) {
      throw toFsError(e, 'mknod', path);
    }
  }

  async statfs(path: string): Promise<StatFs> {
    this.#check('statfs', path);
    try {
      const s = await withShortPath(path, p => fsp.statfs(p));
      return {
        bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
        files: s.files, ffree: s.ffree, favail: s.ffree, flag: 0, namemax: 255,
      };
    } catch (e) {
      throw toFsError(e, 'statfs', path);
    }
  }

  async realpath(path: string): Promise<string> {
    this.#check('realpath', path);
    const expanded = path === '~' || path === '.' ? homedir() : path.startsWith('~/') ? posix.join(homedir(), path.slice(2)) : path;
    try { return await fsp.realpath(expanded); } catch (e) { throw toFsError(e, 'realpath', path); }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** A time as the posix addon takes it: [sec, nsec], with a marker for omitted and 'now'. */
function utimeArgs(t: Timespec | 'now' | undefined): [number, number] {
  if (t === undefined) return [0, NSEC_OMIT];
  if (t === 'now') return [0, NSEC_NOW];
  return [t.sec, t.nsec];
}

/**
 * Opens with create where the mode could come out altered: an exclusive create tells whether the
 * file is ours, and only then is its mode set exactly. A file that was there keeps its mode, as
 * open(2) leaves it.
 */
async function createExact(path: string, flags: OpenFlags, mode: number): Promise<fsp.FileHandle> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, openMode({ ...flags, exclusive: true }), mode);
  } catch (e) {
    if (flags.exclusive === true || (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return await fsp.open(path, openMode(flags), mode);
  }
  try {
    await setNewMode(() => fh.chmod(mode));
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/** mkdir(2) drops setuid/setgid and applies the umask; a setgid bit inherited from the parent stays, as mkdir(2) gives it. */
async function setNewDirMode(path: string, mode: number): Promise<void> {
  const st = await fsp.lstat(path);
  const want = mode | (st.mode & S_ISGID);
  if ((st.mode & 0o7777) !== want) await setNewMode(() => fsp.chmod(path, want));
}

/**
 * Sets the mode of something just created. A file system without Unix modes (vfat) refuses with
 * EPERM or ENOTSUP; what was created then stands, as a plain create would have left it.
 */
async function setNewMode(chmod: () => Promise<void>): Promise<void> {
  try {
    await chmod();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
  }
}

/** rename(2), or with `noReplace` its RENAME_NOREPLACE (node:fs has no renameat2). */
async function renameShort(from: string, to: string, options: RenameOptions): Promise<void> {
  if (options.noReplace) {
    // link+unlink is atomic for files; folders get a check first.
    const st = await fsp.lstat(from);
    if (!st.isDirectory()) {
      await fsp.link(from, to);
      await fsp.unlink(from);
      return;
    }
    if (await exists(to)) throw new FsError('EEXIST', 'rename');
  }
  await fsp.rename(from, to);
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** An open local file. */
class LocalFileHandle implements FileHandle {
  #fh: fsp.FileHandle | undefined;
  readonly #posix: PosixBinding;
  // Addon calls holding the raw fd, which the FileHandle does not count: close waits for them.
  readonly #fdCalls = new Set<Promise<void>>();

  constructor(readonly path: string, fh: fsp.FileHandle, posix: PosixBinding) {
    this.#fh = fh;
    this.#posix = posix;
  }

  #handle(syscall: string): fsp.FileHandle {
    if (this.#fh === undefined) throw new FsError('EBADF', syscall, this.path);
    return this.#fh;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const fh = this.#handle('read');
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await fh.read(buffer, offset + done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw toFsError(e, 'read', this.path);
    }
    return done;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    const fh = this.#handle('write');
    let done = 0;
    try {
      while (done < length) {
        const { bytesWritten } = await fh.write(buffer, offset + done, length - done, position + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw toFsError(e, 'write', this.path);
    }
  }

  async stat(): Promise<FileStat> {
    try { return fileStatFromNode(await this.#handle('stat').stat({ bigint: true })); } catch (e) { throw toFsError(e, 'stat', this.path); }
  }

  async setattr(attrs: SetAttr): Promise<void> {
    const fh = this.#handle('setattr');
    try {
      if (attrs.size !== undefined) await fh.truncate(attrs.size);
      if (attrs.mode !== undefined) await fh.chmod(attrs.mode & 0o7777);
      if (attrs.uid !== undefined || attrs.gid !== undefined) {
        const st = await fh.stat();
        await fh.chown(attrs.uid ?? st.uid, attrs.gid ?? st.gid);
      }
      if (attrs.atime !== undefined || attrs.mtime !== undefined) {
        const call = this.#posix.futimens(this.#handle('setattr').fd, ...utimeArgs(attrs.atime), ...utimeArgs(attrs.mtime));
        this.#fdCalls.add(call);
        try { await call; } finally { this.#fdCalls.delete(call); }
      }
    } catch (e) {
      throw toFsError(e, 'setattr', this.path);
    }
  }

  async sync(): Promise<void> {
    try { await this.#handle('sync').sync(); } catch (e) { throw toFsError(e, 'sync', this.path); }
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    if (fh !== undefined) {
      await Promise.allSettled(this.#fdCalls);
      try { await fh.close(); } catch (e) { throw toFsError(e, 'close', this.path); }
    }
  }
}
