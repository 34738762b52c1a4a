import { ROOT_INO, type Attr, type RequestContext } from '../fuse/operations.ts';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type FileStat, type Timespec } from '../remote/file-client.ts';
import type { CacheWatch } from './cache-watch.ts';
import type { ContentCache } from './content-cache.ts';
import type { IdMap } from './id-map.ts';
import type { Node } from './inode-table.ts';
import type { KernelNotices } from './kernel-notices.ts';
import type { Outage } from './outage.ts';
import type { ResolvedWorkspaceOptions } from './options.ts';

const BLKSIZE = 4096;
/**
 * Inode numbers shown for files whose remote number cannot be shown (another file system under
 * the root, or a number past what a JS number holds exactly) are ours plus this, above every
 * remote number shown, so the two kinds never meet.
 */
const OWN_INO_BASE = 2 ** 52;

/** An ask for a node's attributes made by a close (see Attributes.asking); `at`: when it was made. */
export interface AttrAsk {
  readonly at: number;
}

/** access(2) mask bits. */
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

/**
 * The cached attributes and symlink targets of nodes: the only writer of `Node.attr`,
 * `attrExpires`, `attrFromRemote`, `linkTarget` and `linkTargetExpires`, and the one place that
 * turns remote attributes into what the kernel sees.
 */
export class Attributes {
  readonly #opts: ResolvedWorkspaceOptions;
  readonly #ids: IdMap;
  readonly #contents: ContentCache;
  readonly #notices: KernelNotices;
  readonly #outage: Outage;
  readonly #watch: CacheWatch;
  /**
   * The device of the root's file system, once its attributes came: files on it show the remote's
   * inode numbers (so `ls -i`, git's index and hard-link detection agree with the remote). Until
   * then, and without the remote's numbers, ours.
   */
  #rootDev: number | undefined;
  #rootSeen = false;
  /**
   * Files whose remote changes were reported while they were open for writing here and not told to
   * the kernel then (see Entries.remoteChanged): its pages are dropped once, when the last writer
   * closes, in case a change was not ours.
   */
  readonly #heldChanges = new Set<number>();
  /**
   * Nodes whose attributes a close(2) asked the remote for behind its writes, with the ask's token:
   * any change of the node's attributes here meanwhile takes it out, and the answer is then too
   * old to keep (see {@link answered}).
   */
  readonly #asked = new Map<number, AttrAsk>();

  constructor(opts: ResolvedWorkspaceOptions, ids: IdMap, contents: ContentCache, notices: KernelNotices, outage: Outage, watch: CacheWatch) {
    this.#opts = opts;
    this.#ids = ids;
    this.#contents = contents;
    this.#notices = notices;
    this.#outage = outage;
    this.#watch = watch;
  }

  /** True while `node`'s cached attributes are within their lifetime, or kept right by the watch. */
  fresh(node: Node): boolean {
    return node.attr !== undefined && this.#watch.valid(node.attrExpires, this.#opts.attrTimeoutMs);
  }

  /** True when `node`'s cached attributes came from the remote and the watch is trusted with them (see CacheWatch.trusts). */
  trusted(node: Node): boolean {
    const ttl = this.#opts.attrTimeoutMs;
    return node.attr !== undefined && node.attrFromRemote && ttl > 0 && this.#watch.trusts(node.attrExpires - ttl);
  }

  /** True when `node`'s cached attributes may answer: fresh, or any age while the link is down. */
  usable(node: Node): boolean {
    return this.fresh(node) || (node.attr !== undefined && !node.attrOutdated && this.#outage.servesStale());
  }

  /** A close of `node` asks the remote for its attributes behind its writes: the token to hand {@link answered}. */
  asking(node: Node): AttrAsk {
    const token = { at: this.#opts.now() };
    this.#asked.set(node.ino, token);
    return token;
  }

  /**
   * The remote's answer to {@link asking} (undefined: none to keep). Stored when nothing changed
   * the node's attributes here since the ask and it shows `size` (what our writes, or a truncate,
   * made); else the attributes are expired, and the next stat asks.
   */
  answered(node: Node, token: AttrAsk, stat: FileStat | undefined, size = node.attr?.size): void {
    const current = this.#asked.get(node.ino) === token;
    if (current) this.#asked.delete(node.ino);
    if (current && stat !== undefined && size !== undefined && stat.size === size && (stat.mode & S_IFMT) === node.type) {
      this.#contents.delete(node.ino);
      // The change is ours: the kernel's pages hold it already.
      this.store(node, stat, token.at, false);
    } else {
      this.expire(node);
    }
  }

  /** Marks `node`'s attributes stale after a mutation of ours (no remote-change notice on refetch). */
  expire(node: Node): void {
    this.#changing(node);
    this.#contents.delete(node.ino);
    node.attrExpires = 0;
    node.attrFromRemote = false;
    node.linkTargetExpires = 0;
  }

  /** Like `expire`, for attributes a setattr of ours made wrong: not answered stale while the link is down. */
  outdate(node: Node): void {
    this.expire(node);
    node.attrOutdated = true;
  }

  /** A change of `node` was reported while it is open for writing here (see {@link #heldChanges}). */
  changeHeld(node: Node): void {
    this.#heldChanges.add(node.ino);
  }

  /** The last writer of `node` here closed: a change held meanwhile is told to the kernel now. */
  writersGone(node: Node): void {
    if (this.#heldChanges.delete(node.ino)) this.#notices.inode(node.ino);
  }

  /** Marks `node`'s attributes stale and keeps its content: what we showed was ours, not the remote's. */
  expireAttributes(node: Node): void {
    this.#changing(node);
    node.attrExpires = 0;
    node.attrFromRemote = false;
  }

  /**
   * Stores remote attributes. When a regular file's size or mtime differs from what the remote
   * gave last (Node.remoteAttr), it changed there: the kernel's page cache is dropped, after the
   * current reply. With `queueNotice` false the change was ours (our writes' attributes coming
   * back) or the caller tells the kernel itself. Our own writes seen here otherwise (a stat that
   * asked after them) drop the pages once: more than needed, never too little.
   */
  store(node: Node, stat: FileStat, fetchedAt = this.#opts.now(), queueNotice = true): void {
    this.#changing(node);
    const old = node.attr;
    const seen = node.remoteAttr;
    if (queueNotice && seen !== undefined && node.type === S_IFREG
      && (seen.size !== stat.size || !sameTime(seen.mtime, stat.mtime))) {
      this.#notices.inode(node.ino);
    }
    if (node.type === S_IFLNK && old !== undefined && !sameTime(old.mtime, stat.mtime)) node.linkTargetExpires = 0;
    if (node.ino === ROOT_INO && !this.#rootSeen) {
      this.#rootSeen = true;
      this.#rootDev = stat.dev;
    }
    node.attr = stat;
    node.remoteAttr = stat;
    node.attrExpires = fetchedAt + this.#opts.attrTimeoutMs;
    node.attrFromRemote = true;
    node.attrOutdated = false;
  }

  /** `n` bytes were written at `offset` (or appended) through us: size and times as we know them. */
  wrote(node: Node, offset: number, n: number, append: boolean): void {
    this.#changing(node);
    if (node.attr === undefined) return;
    const now = nowTimespec();
    const size = append ? node.attr.size + n : Math.max(node.attr.size, offset + n);
    node.attr = { ...node.attr, size, mtime: now, ctime: now };
    node.attrFromRemote = false;
  }

  /** `node`'s attributes change here: an answer asked for before is too old (see {@link #asked}). */
  #changing(node: Node): void {
    if (this.#asked.size > 0) this.#asked.delete(node.ino);
  }

  /** The file was cut to 0 bytes through us. */
  truncated(node: Node): void {
    if (node.attr !== undefined) node.attr = { ...node.attr, size: 0 };
    this.expire(node);
  }

  /** One of `node`'s names was removed through us. */
  unlinked(node: Node): void {
    this.expire(node);
    if (node.attr?.nlink !== undefined) node.attr = { ...node.attr, nlink: Math.max(0, node.attr.nlink - 1) };
  }

  /** The cached target of symlink `node`, while fresh (of any age while the link is down). */
  linkTarget(node: Node): string | undefined {
    if (node.linkTarget === undefined) return undefined;
    return this.#watch.valid(node.linkTargetExpires, this.#opts.attrTimeoutMs) || this.#outage.servesStale() ? node.linkTarget : undefined;
  }

  /** Caches the target of symlink `node` for the attribute lifetime. */
  storeLinkTarget(node: Node, target: string): void {
    node.linkTarget = target;
    node.linkTargetExpires = this.#opts.now() + this.#opts.attrTimeoutMs;
  }

  /** True until the root's attributes came (inode numbers depend on its device). */
  get needsRoot(): boolean {
    return !this.#rootSeen;
  }

  /** The inode number a file shows: the remote's on the root's file system, else `own` (our node number) lifted above them. */
  shownIno(own: number, stat: FileStat): number {
    const dev = this.#rootDev;
    if (stat.ino === undefined || stat.dev === undefined || dev === undefined) return own;
    if (stat.dev === dev && stat.ino > 0 && stat.ino < OWN_INO_BASE) return stat.ino;
    return OWN_INO_BASE + own;
  }

  /** Remote attributes → what the kernel sees: our inode number, mapped ids, umask, synthesised counts. */
  toAttr(node: Node | undefined, stat: FileStat): Attr {
    const type = stat.mode & S_IFMT;
    const { uid, gid } = this.#ids.toLocal(stat);
    return {
      ino: this.shownIno(node?.ino ?? 0, stat),
      mode: type | (stat.mode & 0o7777 & ~this.#opts.umask),
      // Without the remote's count, hard links made through this mount are still counted, and a
      // file whose every name was removed (open, or unlinked meanwhile) has none, as fstat says locally.
      nlink: stat.nlink ?? (type === S_IFDIR ? 2 : node === undefined ? 1 : node.links.size === 0 ? 0 : node.links.size),
      uid,
      gid,
      rdev: stat.rdev ?? 0,
      size: stat.size,
      blksize: BLKSIZE,
      blocks: stat.blocks ?? Math.ceil(stat.size / 512),
      atime: stat.atime,
      mtime: stat.mtime,
      ctime: stat.ctime ?? stat.mtime,
    };
  }
}

/** access(2) of `attr` as shown to the kernel, for caller `ctx`; root (uid 0) is always granted. */
export function permits(attr: Attr, mask: number, ctx: RequestContext): boolean {
  if (mask === 0 || ctx.uid === 0) return true;
  const bits = ctx.uid === attr.uid ? (attr.mode >> 6) & 7 : ctx.gid === attr.gid ? (attr.mode >> 3) & 7 : attr.mode & 7;
  return (mask & (R_OK | W_OK | X_OK) & ~bits) === 0;
}

/** Attributes for "." / ".." or a negative entry when nothing better is known. */
export function placeholderDirStat(): FileStat {
  const zero = { sec: 0, nsec: 0 };
  return { mode: S_IFDIR | 0o755, size: 0, uid: 0, gid: 0, atime: zero, mtime: zero };
}

function sameTime(a: Timespec, b: Timespec): boolean {
  return a.sec === b.sec && a.nsec === b.nsec;
}

function nowTimespec(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}
