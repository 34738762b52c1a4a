/**
 * The file-access contract every backend implements: the SFTP codec over SSH or an agent, the Docker
 * copy/exec client, and node:fs for local folders. The workspace VFS sees only this interface.
 *
 * Paths are absolute POSIX paths on the remote ("/home/u/src/a.txt"). A backend resolves `~` and
 * relative destination paths before it hands paths to the VFS (see `FileClient.realpath`).
 *
 * Every method rejects with an {@link FsError} whose `code` is an errno name and whose `syscall` is
 * the method name. ENOTCONN or ECONNABORTED mean the transport is gone: every later call fails the
 * same way, promptly, until a new client is made.
 */

import type { FsError } from './fs-error.ts';

/** A point in time with nanoseconds, as `struct timespec`. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** File type bits of `mode`, as in <sys/stat.h>. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/**
 * Attributes of a file, as the remote reports them. `mode` carries the S_IFMT type bits.
 * Optional fields are absent when the transport cannot report them (SFTP v3 has no inode number,
 * link count or ctime); the VFS then synthesises stable values.
 */
export interface FileStat {
  /** Type and permission bits (st_mode). */
  mode: number;
  /** Size in bytes. */
  size: number;
  uid: number;
  gid: number;
  atime: Timespec;
  mtime: Timespec;
  /** Change time; absent when the remote does not report it. */
  ctime?: Timespec;
  /** The remote's inode number; absent when unknown. */
  ino?: number;
  /** The remote's device of the file system holding it (with `ino`, what names one file); absent when unknown. */
  dev?: number;
  /** Link count; absent when unknown. */
  nlink?: number;
  /** Device number of a character or block device node. */
  rdev?: number;
  /** 512-byte blocks allocated; absent when unknown. */
  blocks?: number;
}

/** One directory entry with its attributes (lstat semantics: a symlink describes itself). */
export interface DirEntry {
  name: string;
  stat: FileStat;
}

/** File system statistics, as statvfs(3). */
export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  /** ST_RDONLY = 1, ST_NOSUID = 2. */
  flag: number;
  namemax: number;
}

/**
 * Attribute changes for `setattr`. A missing field is left as it is (UTIME_OMIT for times);
 * 'now' asks for the remote's current time (UTIME_NOW).
 */
export interface SetAttr {
  /** Permission bits only (07777); the type bits are ignored. */
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
}

/** How `open` opens a file. At least one of `read`/`write` is true. */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  /** Every write goes to the end of the file, whatever its position says. */
  append?: boolean;
  /** Create the file when it does not exist. */
  create?: boolean;
  /** With `create`: fail with EEXIST when it does exist (O_EXCL). */
  exclusive?: boolean;
  /** Cut the file to length 0 on open (O_TRUNC). */
  truncate?: boolean;
}

/**
 * What a client can do beyond the always-present operations. The VFS consults these once at mount;
 * a false flag means the matching call rejects with ENOSYS/ENOTSUP (or, for `fsync`, that `sync()`
 * is a successful no-op).
 */
export interface FileCapabilities {
  /** `FileHandle.sync()` reaches stable storage on the remote (fsync@openssh.com). */
  fsync: boolean;
  /** `link()` works (hardlink@openssh.com). */
  hardlink: boolean;
  /** `symlink()`/`readlink()` work. */
  symlink: boolean;
  /** `statfs()` reports real numbers (statvfs@openssh.com); otherwise it reports made-up totals. */
  statvfs: boolean;
  /** `rename()` replaces an existing target atomically (posix-rename@openssh.com). */
  posixRename: boolean;
  /** `setattr(..., { noFollow: true })` changes a symlink itself (lsetstat@openssh.com). */
  noFollowSetattr: boolean;
  /** `copyData()` copies between two handles on the remote (copy-data). */
  copyData: boolean;
  /** `~`-paths are expanded by the server (expand-path@openssh.com). */
  expandPath: boolean;
  /** `watch()` reports remote changes (the agent's watch extension). */
  watch: boolean;
  /** `stat` reports the remote's inode numbers, link counts and ctime. */
  inodes: boolean;
  /**
   * `mknod()` makes FIFOs and socket files, and device nodes where the remote login may (the
   * agent's mknod@rmount, mknod(2) on a local folder). Plain SFTP has no request for them.
   */
  specialFiles: boolean;
  /** Times keep nanoseconds both ways. */
  nanoseconds: boolean;
  /**
   * Calls are carried out by the remote in the order they were made (one SFTP channel): a close
   * sent right behind writes and a setattr, without waiting for their answers, comes after them.
   * Absent or false where calls may run concurrently (a local folder on a thread pool).
   */
  inOrder?: boolean;
  /** `putFile()` writes a small file in one request (rmount-agent's putfile@rmount). */
  putFile?: boolean;
  /** `batch()` sends many changes in one request (rmount-agent's batch@rmount). */
  batch?: boolean;
  /** `subtree()` reads the listings of a whole subtree in one request (rmount-agent's listings@rmount). */
  subtree?: boolean;
  /** `readFiles()` reads many small files in one request (rmount-agent's readfiles@rmount). */
  readFiles?: boolean;
  /**
   * A path of PATH_MAX bytes or more, or a name past NAME_MAX, is refused with ENAMETOOLONG (see
   * `nameTooLong`): plain SFTP and shell commands hand paths to the remote kernel whole. A client
   * that answers before the remote (the write-back journal) refuses them itself.
   */
  shortPaths?: boolean;
  /** Largest read one request carries; larger reads are split by the client. */
  maxRead: number;
  /** Largest write one request carries; larger writes are split by the client. */
  maxWrite: number;
}

/**
 * An open file. Calls may be issued concurrently; each resolves independently. Buffers passed in
 * are only read (write) or filled (read) until the returned promise settles; the caller owns them.
 */
export interface FileHandle {
  /** The path the handle was opened with. */
  readonly path: string;
  /**
   * Reads up to `length` bytes at `position` into `buffer` at `offset`.
   * Resolves with the number of bytes read, short only at end of file; 0 means end of file
   * (never throws at EOF). Large reads are split and issued concurrently.
   * @throws FsError EBADF if the handle was closed; EISDIR; ENOTCONN if the transport dropped.
   */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * Writes `length` bytes from `buffer` at `offset` to the file at `position` (ignored in append
   * mode). Resolves once the remote acknowledged every byte; never writes partially and succeeds.
   * @throws FsError EBADF; ENOSPC/EDQUOT; EFBIG; ENOTCONN.
   */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void>;
  /** The open file's attributes (fstat). */
  stat(): Promise<FileStat>;
  /**
   * True when the remote carries out this handle's calls in the order they were made, so a `stat`
   * called after a `write` sees it even before the write is acknowledged (sftp-server and
   * rmount-agent answer one request at a time). Absent where calls may overtake each other (the
   * local backend's thread pool, a local staging file).
   */
  readonly inOrder?: boolean;
  /** Changes the open file's attributes (ftruncate, fchmod, fchown, futimens). */
  setattr(attrs: SetAttr): Promise<void>;
  /**
   * Pushes data this handle still holds back to the remote, without asking for stable storage:
   * close(2) calls it, so other readers of the remote see what was written. Present only on
   * clients that gather writes themselves (the Docker copy/exec client sends whole files).
   */
  flush?(): Promise<void>;
  /**
   * Flushes the file to stable storage on the remote. A successful no-op when
   * `capabilities.fsync` is false.
   */
  sync(): Promise<void>;
  /** Closes the handle. Later calls reject with EBADF; a second close resolves. */
  close(): Promise<void>;
}

/** Options for path-based `setattr`. */
export interface SetAttrOptions {
  /** Change a symlink itself rather than its target (lchown, utimensat AT_SYMLINK_NOFOLLOW). */
  noFollow?: boolean;
  /**
   * The attributes of `path` as the caller last saw them (any age). A client that answers changes
   * before the remote has them (the write-back journal) starts from these; others ignore them.
   */
  known?: FileStat;
}

/** What `putFile` sets besides the content. */
export interface PutFileOptions {
  /** Permission bits (07777), applied exactly. */
  mode: number;
  /** Owner; left to the remote login when absent. A chown the login may not make is skipped. */
  uid?: number;
  gid?: number;
  atime: Timespec;
  mtime: Timespec;
  /** EEXIST when the name exists (O_EXCL). */
  exclusive?: boolean;
  /** fsync before close. */
  sync?: boolean;
}

/** One change in a batch (`FileClient.batch`). Items are done in order; one failing does not stop the rest. */
export type BatchOp =
  | { kind: 'put'; path: string; data: Uint8Array; options: PutFileOptions }
  | { kind: 'mkdir'; path: string; mode: number }              // mode exact (not masked by the remote umask)
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'rmdir'; path: string }
  | { kind: 'rename'; from: string; to: string; noReplace?: boolean }
  | { kind: 'link'; existing: string; path: string }           // a hard link
  | { kind: 'setattr'; path: string; attrs: SetAttr; noFollow?: boolean };

/**
 * Most changes one `batch()` call takes. The remote carries them out one after the other while
 * every other call on the link waits behind them, so a batch stays short.
 */
export const BATCH_MAX_OPS = 256;

/**
 * Most bytes one `batch()` call takes, counted by `batchOpBytes`. rmount-agent accepts requests
 * up to 1 MiB + 1 KiB (its limits@openssh.com max packet); `batchOpBytes` bounds each change's
 * encoding from above, so 1 MiB of them stays inside that with the request's own header.
 */
export const BATCH_MAX_BYTES = 1 << 20;

/** Bytes `op` counts against `BATCH_MAX_BYTES`: its paths and data plus 64 for the fixed fields. */
export function batchOpBytes(op: BatchOp): number {
  const fixed = 64;
  switch (op.kind) {
    case 'put': return fixed + Buffer.byteLength(op.path) + op.data.byteLength;
    case 'symlink': return fixed + Buffer.byteLength(op.target) + Buffer.byteLength(op.path);
    case 'rename': return fixed + Buffer.byteLength(op.from) + Buffer.byteLength(op.to);
    case 'link': return fixed + Buffer.byteLength(op.existing) + Buffer.byteLength(op.path);
    default: return fixed + Buffer.byteLength(op.path);
  }
}

/** The path a batch change's error names: `from` of a rename, else `path`. */
export function batchOpPath(op: BatchOp): string {
  return op.kind === 'rename' ? op.from : op.path;
}

/** Options for `rename`. */
export interface RenameOptions {
  /** Fail with EEXIST when the target exists (RENAME_NOREPLACE). */
  noReplace?: boolean;
  /** The source's attributes as the caller last saw them (any age); see SetAttrOptions.known. */
  known?: FileStat;
  /** The target's, likewise; null when the caller believes no target exists (the kernel found none). */
  knownTarget?: FileStat | null;
}

/** What a watch event says happened to its path. */
export type WatchEventKind = 'create' | 'remove' | 'modify' | 'attrib' | 'rename';

/** A change reported by `FileClient.watch`. Changes to one path within a short window come as one event. */
export interface WatchEvent {
  /** Absolute remote path of what changed (the watched folder itself for a rescan). */
  path: string;
  /** What happened to it (several when changes were coalesced). */
  kinds: WatchEventKind[];
  /** Events were lost: anything under `path` may have changed. */
  rescan: boolean;
}

/** A live watch subscription. */
export interface WatchSubscription {
  /**
   * True while every change under the root is being reported: false once the transport is gone
   * (until a renewed subscription's rescan event), or when the remote could not watch all of the
   * tree (out of inotify watches). Caches may rely on the events only while it is true.
   */
  live(): boolean;
  /**
   * A barrier: resolves true once every change the remote had seen when it was called has been
   * handed to the listener (a remote command that just ended has all its changes shown). False
   * when that cannot be told: the remote has no barrier, or the watch is not live.
   */
  barrier(): Promise<boolean>;
  /** Ends the subscription; no event is delivered after it resolves. Idempotent. */
  close(): Promise<void>;
}

/** The file-access contract. Safe for concurrent use. */
export interface FileClient {
  /** What this client can do; fixed once the client is made. */
  readonly capabilities: FileCapabilities;

  /**
   * Opens (and with `flags.create`, creates with `mode`, default 0o666 before the remote umask)
   * a regular file.
   * @throws FsError ENOENT, EEXIST (create+exclusive), EISDIR, EACCES, ENOTDIR.
   */
  open(path: string, flags: OpenFlags, mode?: number): Promise<FileHandle>;
  /** Attributes of `path`, following symlinks. @throws FsError ENOENT, ENOTDIR, EACCES, ELOOP. */
  stat(path: string): Promise<FileStat>;
  /** Attributes of `path` itself (a symlink describes itself). @throws FsError ENOENT, ENOTDIR. */
  lstat(path: string): Promise<FileStat>;
  /**
   * Every entry of a directory but `.` and `..`, each with its attributes (lstat semantics), in
   * the remote's order. @throws FsError ENOENT, ENOTDIR, EACCES.
   */
  readdir(path: string): Promise<DirEntry[]>;
  /** The target of a symlink, as stored. @throws FsError ENOENT, EINVAL (not a symlink). */
  readlink(path: string): Promise<string>;
  /** Creates a directory. @throws FsError EEXIST, ENOENT (parent), ENOTDIR, EACCES. */
  mkdir(path: string, mode?: number): Promise<void>;
  /** Removes an empty directory. @throws FsError ENOENT, ENOTEMPTY, ENOTDIR, EBUSY. */
  rmdir(path: string): Promise<void>;
  /** Removes a non-directory. @throws FsError ENOENT, EISDIR (or EPERM), EACCES. */
  unlink(path: string): Promise<void>;
  /**
   * Renames with POSIX semantics: an existing target file (or empty directory) is replaced.
   * @throws FsError ENOENT, EEXIST (noReplace), ENOTEMPTY, EISDIR, ENOTDIR, EXDEV, EINVAL.
   */
  rename(from: string, to: string, options?: RenameOptions): Promise<void>;
  /** Creates a symlink at `path` pointing at `target` (stored as given). @throws FsError EEXIST. */
  symlink(target: string, path: string): Promise<void>;
  /**
   * Makes a FIFO, socket file, character or block device (`mode` carries the S_IFMT type and the
   * permission bits, applied exactly; `rdev` is the Linux st_rdev of a device, else 0). Present
   * only when `capabilities.specialFiles` is true.
   * @throws FsError EEXIST, ENOENT (parent), EPERM (a device the login may not make), EINVAL.
   */
  mknod?(path: string, mode: number, rdev: number): Promise<void>;
  /** Creates a hard link. @throws FsError EEXIST, ENOENT, EPERM, ENOSYS when unsupported. */
  link(existing: string, newPath: string): Promise<void>;
  /**
   * Changes attributes: chmod, chown, utimensat, truncate in one call where the remote allows.
   * @throws FsError ENOENT, EPERM, EACCES; ENOTSUP for `noFollow` when unsupported.
   */
  setattr(path: string, attrs: SetAttr, options?: SetAttrOptions): Promise<void>;
  /** File system statistics for the file system holding `path`. */
  statfs(path: string): Promise<StatFs>;
  /**
   * Canonical absolute form of `path`. `'.'` is the login folder; a leading `~` or `~/` is the
   * home folder (also where the server lacks expand-path). @throws FsError ENOENT.
   */
  realpath(path: string): Promise<string>;
  /**
   * Reports changes under the folder `root` (recursively) made by anyone, without polling. Present
   * only when `capabilities.watch` is true. `listener` gets batches of events and must not throw;
   * after the transport drops it is called no more (the subscription ends with the client).
   * @throws FsError ENOENT, ENOTDIR, ENOTSUP (the remote cannot watch), ENOSPC (out of watches).
   */
  watch?(root: string, listener: (events: WatchEvent[]) => void): Promise<WatchSubscription>;
  /**
   * Copies `length` bytes (0: to the end of the source) from `from` at `fromOffset` to `to` at
   * `toOffset` on the remote, without the data crossing the transport. Both handles must come from
   * this client. Present only when `capabilities.copyData` is true.
   * @throws FsError EBADF (a closed handle, or one of another client); ENOTSUP.
   */
  copyData?(from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number): Promise<void>;
  /**
   * Resolves once the transport is gone (the peer closed it, it broke, or `close()` ended it);
   * from then on every call fails with ENOTCONN. Present on clients whose transport can die under
   * them, so a wrapper can make a new one (see `ReconnectingFileClient`). Never rejects.
   */
  readonly closed?: Promise<void>;
  /**
   * False while the transport is down and not yet replaced by a new one; true otherwise. Present
   * on clients that make a new transport by themselves (see `ReconnectingFileClient`): calls made
   * while it is false wait for the new transport (bounded by the caller) or fail with ENOTCONN
   * when none can be made, and the VFS answers from its caches past their lifetime meanwhile.
   * Asking may start an attempt to reconnect in the background. Cheap; never throws.
   */
  linkUp?(): boolean;
  /**
   * A handle on this client for `handle`, opened on an earlier client whose server-side session
   * this one resumed (rmount-agent's durable sessions keep handles across connections), so the
   * very same open file carries on: also one unlinked or renamed meanwhile. Undefined when the
   * session did not survive (or `handle` is not of it); the caller then reopens by path.
   */
  adopt?(handle: FileHandle): FileHandle | undefined;
  /**
   * Resolves once every change accepted before the call is on the remote (fsync of a folder).
   * Present on clients that accept changes before the remote has them (the write-back journal).
   * @throws FsError the errno of a change the remote refused.
   */
  flushAll?(): Promise<void>;
  /**
   * Writes a whole file (created, or truncated in place) with its mode, times and owner, in one
   * request. Present only when `capabilities.putFile` is true (rmount-agent's putfile@rmount);
   * `data` must fit in one request (`capabilities.maxWrite`).
   * @throws FsError EEXIST (exclusive), ENOENT (folder), EACCES, ENOSPC.
   */
  putFile?(path: string, data: Uint8Array, options: PutFileOptions): Promise<void>;
  /**
   * Carries out `ops` in order in one request, each as its own call would (a put as `putFile`,
   * a mkdir with its mode exact, a setattr with `noFollow` on a symlink itself). Resolves with one
   * result per op, in order: undefined where it succeeded, else its FsError (`syscall` the op's
   * kind, `path` its `path`, or `from` of a rename). A failing op does not stop the later ones;
   * the call itself rejects only when the request failed as a whole (ENOTCONN, the link lost: some
   * ops may have been done), or with EINVAL when `ops` pass `BATCH_MAX_OPS` or `BATCH_MAX_BYTES`.
   * Present only when `capabilities.batch` is true (rmount-agent's batch@rmount).
   */
  batch?(ops: readonly BatchOp[]): Promise<(FsError | undefined)[]>;
  /**
   * The complete listings (lstat attributes, no `.`/`..`) of folder `path` and the folders below
   * it, breadth first, in one request. A folder is in the answer only when all of its listing is;
   * one that cannot be read is left out with everything below it, and so is what lies past
   * `maxEntries` entries or `maxDepth` levels (1: `path` alone). `truncated` says something was left
   * out for the bounds. Present only when `capabilities.subtree` is true.
   * @throws FsError ENOENT, ENOTDIR, EACCES for `path` itself.
   */
  subtree?(path: string, bounds: SubtreeBounds): Promise<Subtree>;
  /**
   * The first `maxBytes` bytes of each file of `paths` with its attributes, in one request, in
   * order; a file that fails (or that the client will not answer for, EAGAIN) carries its error
   * and does not fail the others. `stat.size` tells whether `data` is the whole file. Present only
   * when `capabilities.readFiles` is true; at most `READ_FILES_MAX` paths and `maxBytes` ≤ 1 MiB.
   */
  readFiles?(paths: readonly string[], maxBytes: number): Promise<SmallFileRead[]>;
  /** Closes the transport; pending and later calls reject with ENOTCONN. Idempotent. */
  close(): Promise<void>;
}

/** Bounds of one `subtree` request. */
export interface SubtreeBounds {
  /** Entries at most in the answer (a folder's listing is never cut: the folder is left out). */
  maxEntries: number;
  /** Levels at most, 1 being `path`'s own listing; 0 or absent: no limit. */
  maxDepth?: number;
}

/** One folder's complete listing within a `subtree` answer. */
export interface SubtreeFolder {
  /** Absolute remote path of the folder. */
  path: string;
  entries: DirEntry[];
}

/** What `subtree` read. */
export interface Subtree {
  /** Breadth first, `path` itself first. */
  folders: SubtreeFolder[];
  /** Folders were left out for the bounds: their listings are to be read some other way. */
  truncated: boolean;
}

/** One file of a `readFiles` answer. */
export interface SmallFileRead {
  path: string;
  /** Set when the file could not be read (or the client would not, EAGAIN); then nothing else is. */
  error?: FsError;
  stat?: FileStat;
  /** The first bytes of the file; all of it when `data.length === stat.size`. */
  data?: Buffer;
}

/** Paths at most in one `readFiles` call. */
export const READ_FILES_MAX = 256;

/** A FileClient that reads subtrees (`capabilities.subtree` and the method). */
export type SubtreeFileClient = FileClient & Required<Pick<FileClient, 'subtree'>>;
/** A FileClient that reads small files in batches (`capabilities.readFiles` and the method). */
export type ReadFilesFileClient = FileClient & Required<Pick<FileClient, 'readFiles'>>;

/** True when `fc` reads whole subtrees in one request. */
export function canSubtree(fc: FileClient): fc is SubtreeFileClient {
  return fc.capabilities.subtree === true && typeof fc.subtree === 'function';
}

/** True when `fc` reads many small files in one request. */
export function canReadFiles(fc: FileClient): fc is ReadFilesFileClient {
  return fc.capabilities.readFiles === true && typeof fc.readFiles === 'function';
}

/** A FileClient that can watch (`capabilities.watch` and the method). */
export type WatchingFileClient = FileClient & Required<Pick<FileClient, 'watch'>>;
/** A FileClient that can copy on the remote (`capabilities.copyData` and the method). */
export type CopyingFileClient = FileClient & Required<Pick<FileClient, 'copyData'>>;
/** A FileClient that makes special files (`capabilities.specialFiles` and the method). */
export type SpecialFileClient = FileClient & Required<Pick<FileClient, 'mknod'>>;
/** A FileClient that says when its transport is gone. */
export type ClosingFileClient = FileClient & Required<Pick<FileClient, 'closed'>>;
/** A FileClient that says whether its link is up. */
export type LinkReportingFileClient = FileClient & Required<Pick<FileClient, 'linkUp'>>;
/** A handle that gathers writes and can push them without a sync. */
export type FlushingFileHandle = FileHandle & Required<Pick<FileHandle, 'flush'>>;

/** True when `fc` reports remote changes: the capability and the method, never one without the other. */
export function canWatch(fc: FileClient): fc is WatchingFileClient {
  return fc.capabilities.watch && typeof fc.watch === 'function';
}

/** True when `fc` copies between its handles on the remote. */
export function canCopyData(fc: FileClient): fc is CopyingFileClient {
  return fc.capabilities.copyData && typeof fc.copyData === 'function';
}

/** True when `fc` makes FIFOs, sockets and device nodes. */
export function canMknod(fc: FileClient): fc is SpecialFileClient {
  return fc.capabilities.specialFiles && typeof fc.mknod === 'function';
}

/** A FileClient that writes small files in one request. */
export type PuttingFileClient = FileClient & Required<Pick<FileClient, 'putFile'>>;

/** True when `fc` writes a whole small file in one request. */
export function canPutFile(fc: FileClient): fc is PuttingFileClient {
  return fc.capabilities.putFile === true && typeof fc.putFile === 'function';
}

/** A FileClient that sends many changes in one request. */
export type BatchingFileClient = FileClient & Required<Pick<FileClient, 'batch'>>;

/** True when `fc` sends many changes in one request. */
export function canBatch(fc: FileClient): fc is BatchingFileClient {
  return fc.capabilities.batch === true && typeof fc.batch === 'function';
}

/** True when `fc` says when its transport is gone (`closed`). */
export function reportsClose(fc: FileClient): fc is ClosingFileClient {
  return fc.closed instanceof Promise;
}

/** True when `fc` says whether its link is up (`linkUp`). */
export function reportsLink(fc: FileClient): fc is LinkReportingFileClient {
  return typeof fc.linkUp === 'function';
}

/** True when `handle` holds writes back until `flush` or `close`. */
export function canFlush(handle: FileHandle): handle is FlushingFileHandle {
  return typeof handle.flush === 'function';
}

/** True for a directory mode. */
export function isDirMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}
/** True for a regular-file mode. */
export function isFileMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}
/** True for a symlink mode. */
export function isSymlinkMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFLNK;
}

/** Linux's PATH_MAX (a path's bytes with its NUL) and NAME_MAX (a component's bytes). */
const PATH_MAX = 4096;
const NAME_MAX = 255;

/** True when a POSIX kernel refuses `path` as too long (ENAMETOOLONG). */
export function nameTooLong(path: string): boolean {
  return Buffer.byteLength(path) >= PATH_MAX || path.split('/').some(c => Buffer.byteLength(c) > NAME_MAX);
}
