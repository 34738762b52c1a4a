/**
 * The contract between the FUSE dispatcher (src/fuse/dispatch.ts, which owns the native binding)
 * and a filesystem implementation (src/workspacefs/). Method names are libfuse low-level op names.
 *
 * Every method returns a promise (or a value); the dispatcher turns it into exactly one reply for
 * the request: a resolved value becomes the matching `fuse_reply_*`, a rejection with an FsError
 * becomes `fuse_reply_err(errno)`, and anything else becomes EIO (logged once with its stack).
 * `forget` has no reply. An op that is not implemented (optional members) is answered ENOSYS.
 *
 * Numbers are JS doubles: inode numbers, file handles and offsets stay below 2^53. Every ranged op
 * takes `offset` before `size` (read, readdir, readdirplus) or before nothing (write's `data` comes
 * first), the order of the kernel's fuse_read_in and of the binding's arguments.
 * Buffers handed in (`write`'s data) belong to the implementation once the call is made.
 */
import type { SetAttr, StatFs, Timespec } from '../remote/file-client.ts';

/** The root inode number, as the kernel knows it. */
export const ROOT_INO = 1;

/** struct stat as the kernel gets it. `mode` carries the type bits. */
export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** An answer to lookup/mknod/mkdir/symlink/link/create: a new kernel reference to `attr.ino`. */
export interface Entry {
  /** The inode number; 0 means a negative entry (cached "no such name" for `entryTimeout`). */
  ino: number;
  generation: number;
  attr: Attr;
  /** Seconds the kernel may cache the attributes. */
  attrTimeout: number;
  /** Seconds the kernel may cache the name → inode mapping. */
  entryTimeout: number;
}

/** An answer to getattr/setattr. */
export interface AttrReply {
  attr: Attr;
  /** Seconds the kernel may cache them. */
  timeout: number;
}

/** An answer to open/opendir/create. */
export interface OpenReply {
  fh: number;
  /** Bypass the page cache for this open file. */
  directIo?: boolean;
  /** Keep the kernel's page cache from an earlier open (the file did not change). */
  keepCache?: boolean;
  /** The file is not seekable. */
  nonseekable?: boolean;
  /** For opendir: the kernel may cache the directory's entries. */
  cacheDir?: boolean;
}

/** An answer to create. */
export interface CreateReply {
  entry: Entry;
  open: OpenReply;
}

/** One readdir entry. `offset` is the cookie of the *next* entry (passed back as `offset`). */
export interface DirentOut {
  name: string;
  ino: number;
  /** Only the type bits matter. */
  mode: number;
  offset: number;
}

/** One readdirplus entry; except for "." and "..", each one is a new kernel reference (lookup). */
export interface DirentPlusOut {
  name: string;
  entry: Entry;
  offset: number;
}

/**
 * Which fields a setattr changes (decoded from FUSE_SET_ATTR_*): the FileClient's SetAttr (a time
 * absent is UTIME_OMIT, 'now' is UTIME_NOW) plus the ctime the kernel may send. `mode` may carry
 * the type bits.
 */
export interface SetattrIn extends SetAttr {
  ctime?: Timespec;
}

/** Who made a request (fuse_req_ctx). */
export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

/** RENAME_NOREPLACE / RENAME_EXCHANGE from <linux/fs.h>. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/** Size a `readdir` entry takes in the kernel's buffer (struct fuse_dirent, 8-aligned). */
export function direntSize(name: string): number {
  return align8(24 + Buffer.byteLength(name));
}
/** Size a `readdirplus` entry takes in the kernel's buffer (struct fuse_direntplus, 8-aligned). */
export function direntPlusSize(name: string): number {
  return align8(152 + Buffer.byteLength(name));
}
function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * A low-level filesystem. `readdir`/`readdirplus` must return only entries that fit in `size`
 * bytes (see direntSize/direntPlusSize); readdirplus entries are kernel references the
 * implementation counts as lookups.
 */
export interface FuseOperations {
  init?(info: ConnectionInfo): void;
  destroy?(): void;
  lookup(parent: number, name: string, ctx: RequestContext): Promise<Entry>;
  forget(ino: number, nlookup: number): void;
  getattr(ino: number, fh: number | undefined, ctx: RequestContext): Promise<AttrReply>;
  setattr(ino: number, changes: SetattrIn, fh: number | undefined, ctx: RequestContext): Promise<AttrReply>;
  readlink(ino: number, ctx: RequestContext): Promise<string>;
  mknod?(parent: number, name: string, mode: number, rdev: number, ctx: RequestContext): Promise<Entry>;
  mkdir(parent: number, name: string, mode: number, ctx: RequestContext): Promise<Entry>;
  unlink(parent: number, name: string, ctx: RequestContext): Promise<void>;
  rmdir(parent: number, name: string, ctx: RequestContext): Promise<void>;
  symlink(target: string, parent: number, name: string, ctx: RequestContext): Promise<Entry>;
  rename(parent: number, name: string, newParent: number, newName: string, flags: number, ctx: RequestContext): Promise<void>;
  link(ino: number, newParent: number, newName: string, ctx: RequestContext): Promise<Entry>;
  /** `flags` are the open(2) flags (O_ACCMODE, O_APPEND, O_TRUNC, ...). */
  open(ino: number, flags: number, ctx: RequestContext): Promise<OpenReply>;
  /** Resolves with at most `size` bytes from `offset`; fewer only at end of file. */
  read(ino: number, fh: number, offset: number, size: number, ctx: RequestContext): Promise<Uint8Array>;
  /** Resolves with the number of bytes written (all of `data` on success). */
  write(ino: number, fh: number, data: Buffer, offset: number, ctx: RequestContext): Promise<number>;
  flush(ino: number, fh: number, ctx: RequestContext): Promise<void>;
  release(ino: number, fh: number, ctx: RequestContext): Promise<void>;
  fsync(ino: number, fh: number, datasync: boolean, ctx: RequestContext): Promise<void>;
  opendir(ino: number, flags: number, ctx: RequestContext): Promise<OpenReply>;
  readdir(ino: number, fh: number, offset: number, size: number, ctx: RequestContext): Promise<DirentOut[]>;
  readdirplus?(ino: number, fh: number, offset: number, size: number, ctx: RequestContext): Promise<DirentPlusOut[]>;
  releasedir(ino: number, fh: number, ctx: RequestContext): Promise<void>;
  fsyncdir?(ino: number, fh: number, datasync: boolean, ctx: RequestContext): Promise<void>;
  statfs(ino: number, ctx: RequestContext): Promise<StatFs>;
  access?(ino: number, mask: number, ctx: RequestContext): Promise<void>;
  /** `flags` are the open(2) flags; `mode` includes S_IFREG. */
  create(parent: number, name: string, mode: number, flags: number, ctx: RequestContext): Promise<CreateReply>;
}

/** What the kernel connection negotiated (from the init op). */
export interface ConnectionInfo {
  protoMajor: number;
  protoMinor: number;
  maxWrite: number;
  maxRead: number;
  maxReadahead: number;
  /** Capability names granted, e.g. 'readdirplus', 'writeback_cache', 'parallel_dirops'. */
  capabilities: string[];
}

/**
 * Kernel cache invalidation, available once mounted. Both are best effort: ENOENT (the kernel
 * does not know the inode or name) is not an error.
 */
export interface FuseNotifier {
  /**
   * Drops cached attributes and, from `offset` for `length` bytes (0 = to the end), data. A
   * returned promise settles once the kernel has done it.
   */
  invalInode(ino: number, offset?: number, length?: number): void | Promise<void>;
  /** Drops the kernel's cached name → inode mapping `name` in `parent`; a returned promise settles once done. */
  invalEntry(parent: number, name: string): void | Promise<void>;
}

/** How to mount. */
export interface FuseMountOptions {
  /** Filesystem name shown in /proc/mounts ("rmount:user@host:/path"). */
  fsname: string;
  /** Subtype shown as fuse.<subtype>. */
  subtype?: string;
  readOnly?: boolean;
  allowOther?: boolean;
  /** Ask the kernel for writeback caching of writes. */
  writebackCache?: boolean;
  /** Largest write the kernel sends (default 1 MiB where the kernel allows). */
  maxWrite?: number;
  /** Mount over a non-empty folder. */
  nonempty?: boolean;
  /** Turn on libfuse's debug output on stderr. */
  debug?: boolean;
}
