/**
 * The raw N-API binding (native/fuse/*.c), as TypeScript sees it. Only src/fuse/ uses it:
 * dispatch.ts turns requests into FuseOperations calls and mount.ts owns the session.
 *
 * Requests arrive on the JS thread through `NativeCallbacks.request(op, id, ctx, ...args)`; ids are
 * never 0 (forget and destroy, which take no reply, come with id 0).
 * Every request with an id must be answered exactly once with one `reply*` call; the C side
 * enforces that: a reply to an unknown or answered id throws (code ERR_FUSE_REPLY) and sends
 * nothing, and a reply of the wrong kind (replyEntry for a read) throws ERR_FUSE_REPLY_TYPE
 * and leaves the request pending. Once the session is unmounted, replies throw ERR_FUSE_CLOSED.
 *
 * Numbers are JS doubles; inode numbers, handles, offsets and sizes stay below 2^53.
 * Structs cross as Float64Arrays in the layouts below (mirrored in native/fuse/convert.h).
 */
import type { ConnectionInfo, RequestContext } from './operations.ts';

/** An opaque mounted session (a tagged N-API external). */
export type NativeHandle = { readonly __brand: 'FuseSession' };

/** struct stat: ino mode nlink uid gid rdev size blksize blocks atime.sec atime.nsec mtime.sec mtime.nsec ctime.sec ctime.nsec */
export const ATTR_LEN = 15;
/** struct fuse_entry_param: ino generation attrTimeout entryTimeout, then an attr. */
export const ENTRY_LEN = 4 + ATTR_LEN;
/** struct statvfs: bsize frsize blocks bfree bavail files ffree favail flag namemax */
export const STATFS_LEN = 10;
/** setattr values: mode uid gid size atime.sec atime.nsec mtime.sec mtime.nsec ctime.sec ctime.nsec */
export const SETATTR_LEN = 10;
/** One readdir entry: ino mode nextOffset. */
export const DIRENT_STRIDE = 3;
/** One readdirplus entry: nextOffset, then an entry. */
export const DIRENTPLUS_STRIDE = 1 + ENTRY_LEN;

/** Bits of `openFlags` for replyOpen/replyCreate. */
export const OPEN_DIRECT_IO = 1;
export const OPEN_KEEP_CACHE = 2;
export const OPEN_NONSEEKABLE = 4;
export const OPEN_CACHE_DIR = 8;

/** FUSE_SET_ATTR_* bits of setattr's `valid` (fuse_lowlevel.h). */
export const SET_ATTR = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
} as const;

/**
 * The ops that arrive through `request`, with their arguments after (op, id, ctx):
 * - lookup(parent, name) · getattr(ino, fh | undefined) · readlink(ino) · statfs(ino)
 * - setattr(ino, valid, values: Float64Array(SETATTR_LEN), fh | undefined)
 * - mknod(parent, name, mode, rdev) · mkdir(parent, name, mode) · unlink/rmdir(parent, name)
 * - symlink(target, parent, name) · rename(parent, name, newParent, newName, flags) · link(ino, newParent, newName)
 * - open/opendir(ino, flags) · create(parent, name, mode, flags)
 * - read/readdir/readdirplus(ino, fh, offset, size) · write(ino, fh, data: Buffer, offset)
 * - flush/release/releasedir(ino, fh) · fsync/fsyncdir(ino, fh, datasync: 0 | 1) · access(ino, mask)
 * - forget(ino, nlookup) and destroy(): id 0 and ctx undefined; they take no reply.
 */
export type NativeOp =
  | 'lookup' | 'getattr' | 'setattr' | 'readlink' | 'mknod' | 'mkdir' | 'unlink' | 'rmdir'
  | 'symlink' | 'rename' | 'link' | 'open' | 'read' | 'write' | 'flush' | 'release' | 'fsync'
  | 'opendir' | 'readdir' | 'readdirplus' | 'releasedir' | 'fsyncdir' | 'statfs' | 'access'
  | 'create' | 'forget' | 'destroy';

/** What the binding calls, always on the JS thread. None of them may throw. */
export interface NativeCallbacks {
  /** A kernel request; see NativeOp for the arguments. Called synchronously from the poll loop. */
  request(op: NativeOp, id: number, ctx: RequestContext | undefined, ...args: unknown[]): void;
  /** The kernel's INIT was answered; `info` is what was negotiated. */
  init(info: ConnectionInfo): void;
  /** The kernel side went away (unmounted from outside, or aborted). unmount() still has to be called. */
  closed(): void;
  /** A notification queued with notifyInval* finished: 0 or a negative errno. */
  notified(ticket: number, result: number): void;
}

/** Options of the native mount, already validated by mount.ts. */
export interface NativeMountOptions {
  fsname: string;
  subtype?: string;
  readOnly?: boolean;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  /** Bytes; 0 or absent means 1 MiB (libfuse 3.14 clamps to its 1 MiB buffer). */
  maxWrite?: number;
  /** Bytes; passed both as the max_read mount option and in init. 0 = kernel default. */
  maxRead?: number;
  writebackCache?: boolean;
  /** Register the readdirplus op and ask the kernel for it (always, not "auto"). */
  readdirplus?: boolean;
  /** libfuse's -d: every request is printed on stderr. */
  debug?: boolean;
}

/** The addon's exports. */
export interface NativeBinding {
  /** libfuse's runtime version, e.g. 314. */
  readonly libfuseVersion?: number;
  /**
   * Mounts and starts serving on the JS loop. Throws code ERR_FUSE_MOUNT when libfuse refuses
   * (it prints the reason on stderr).
   */
  mount(mountpoint: string, options: NativeMountOptions, callbacks: NativeCallbacks): NativeHandle;
  /**
   * Stops reading, joins the notification thread, unmounts (lazily), frees the requests still
   * pending (the kernel has failed them) and destroys the session. Idempotent. Throws
   * ERR_FUSE_REENTRANT when called synchronously from inside a callback.
   */
  unmount(handle: NativeHandle): void;
  /** How many requests wait for a reply. */
  pending(handle: NativeHandle): number;
  /** Queues FUSE_NOTIFY_INVAL_INODE on the notification thread; returns a ticket for `notified`. */
  notifyInvalInode(handle: NativeHandle, ino: number, offset: number, length: number): number;
  /** Queues FUSE_NOTIFY_INVAL_ENTRY on the notification thread; returns a ticket for `notified`. */
  notifyInvalEntry(handle: NativeHandle, parent: number, name: string): number;

  /** Fails any request with a positive errno. */
  replyErr(handle: NativeHandle, id: number, errno: number): void;
  /** Success without data: unlink rmdir rename flush release fsync releasedir fsyncdir access. */
  replyOk(handle: NativeHandle, id: number): void;
  /** lookup mknod mkdir symlink link: `entry` is Float64Array(ENTRY_LEN). */
  replyEntry(handle: NativeHandle, id: number, entry: Float64Array): void;
  /** create: an entry plus the open handle. */
  replyCreate(handle: NativeHandle, id: number, entry: Float64Array, fh: number, openFlags: number): void;
  /** getattr setattr: `attr` is Float64Array(ATTR_LEN), `timeout` in seconds. */
  replyAttr(handle: NativeHandle, id: number, attr: Float64Array, timeout: number): void;
  /** readlink. */
  replyReadlink(handle: NativeHandle, id: number, target: string): void;
  /** open opendir. */
  replyOpen(handle: NativeHandle, id: number, fh: number, openFlags: number): void;
  /** write: bytes written. */
  replyWrite(handle: NativeHandle, id: number, count: number): void;
  /** read: at most the requested size (more throws ERR_OUT_OF_RANGE). The bytes are copied. */
  replyBuf(handle: NativeHandle, id: number, data: Uint8Array): void;
  /** statfs: Float64Array(STATFS_LEN). */
  replyStatfs(handle: NativeHandle, id: number, stat: Float64Array): void;
  /**
   * readdir: packs entries into the kernel's buffer until one does not fit, replies, and
   * returns how many were sent. `entries` is Float64Array(names.length * DIRENT_STRIDE).
   */
  replyReaddir(handle: NativeHandle, id: number, names: string[], entries: Float64Array): number;
  /** readdirplus: as replyReaddir with DIRENTPLUS_STRIDE; each entry sent is a lookup reference. */
  replyReaddirplus(handle: NativeHandle, id: number, names: string[], entries: Float64Array): number;
}
