import {
  RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_INO, direntPlusSize, direntSize,
  type Attr, type AttrReply, type ConnectionInfo, type CreateReply, type DirentOut, type DirentPlusOut,
  type Entry, type FuseNotifier, type FuseOperations, type OpenReply, type RequestContext, type SetattrIn,
} from '../fuse/operations.ts';
import {
  S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
  type DirEntry, type FileClient, type FileHandle, type FileStat, type OpenFlags, type StatFs, type Timespec,
} from '../remote/file-client.ts';
import { FsError, isFsError, type ErrnoName } from '../remote/fs-error.ts';
import { ContentCache, LazyFileHandle } from './content-cache.ts';
import { DirCache, type Listing } from './dir-cache.ts';
import { HandleTable, type DirHandle } from './handles.ts';
import { IdMap } from './id-map.ts';
import { InodeTable, joinPath, type Node } from './inode-table.ts';
import { KernelNotices } from './kernel-notices.ts';
import type { Logger } from './log.ts';
import { NegativeCache } from './negative-cache.ts';
import { OpenFile } from './open-file.ts';
import { O_EXCL, O_TRUNC, decodeAccess } from './open-flags.ts';
import { resolveOptions, type ResolvedWorkspaceOptions, type WorkspaceOptions } from './options.ts';
import { RemoteCaller, toFsError } from './remote-call.ts';
import { Counters, type WorkspaceStats } from './stats.ts';

/** A listing being read from the remote. */
interface ListingInFlight {
  dirs: DirCache;
  generation: number;
  path: string;
  promise: Promise<Listing>;
}

/** A small file to read ahead; `release` settles its entry in the in-flight map. */
interface ContentJob {
  node: Node;
  stat: FileStat;
  fetchedAt: number;
  release: () => void;
}

/** A directory to list ahead. */
interface PrefetchJob {
  node: Node;
  /** Levels below it that may be listed ahead once its listing is in. */
  depth: number;
}

/** A listing that fails with one of these is not the last word on a name: lstat it instead. */
const LISTING_FALLBACK_ERRORS: ReadonlySet<ErrnoName> = new Set<ErrnoName>(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);

/** access(2) mask bits. */
const R_OK = 4;
const W_OK = 2;
const X_OK = 1;

/** NAME_MAX: longer names get ENAMETOOLONG before any remote call. */
const NAME_MAX = 255;
const BLKSIZE = 4096;

/** Errors that already say what rename/rmdir should say; others may hide ENOTEMPTY. */
const PRECISE_RENAME_ERRORS: ReadonlySet<ErrnoName> = new Set<ErrnoName>([
  'ENOENT', 'ENOTEMPTY', 'EXDEV', 'EINVAL', 'ENOTDIR', 'EISDIR', 'ENOSPC', 'EROFS', 'ETIMEDOUT', 'ENOTCONN',
]);

/**
 * The workspace VFS: a low-level FUSE filesystem over a {@link FileClient}.
 *
 * It owns the inode table (our numbers, {parent, name} links, lookup counts), the attribute,
 * negative-lookup and directory caches, and the open-handle table with write gathering and
 * read-ahead. Requests run concurrently; ordering is held only per open handle (its pending
 * writes). Every remote call is bounded by `opTimeoutMs`, and every failure leaves as an FsError.
 *
 * Kernel cache notifications are queued during an op and sent after it has settled, because
 * invalidating an entry while the kernel still waits for our reply on the same directory deadlocks.
 */
export class WorkspaceFilesystem implements FuseOperations {
  readonly #client: FileClient;
  readonly #opts: ResolvedWorkspaceOptions;
  readonly #log: Logger;
  readonly #counters = new Counters();
  readonly #caller: RemoteCaller;
  readonly #table: InodeTable;
  #negative: NegativeCache;
  #dirs: DirCache;
  readonly #handles = new HandleTable();
  readonly #notices: KernelNotices;
  readonly #ids: IdMap;
  #fsyncNoticeLogged = false;
  #connection: ConnectionInfo | undefined;
  /** The kernel caches writes: it may read through write-only handles and applies O_APPEND itself. */
  #writeback = false;
  /** Listings being read, per directory inode: at most one per directory (and generation). */
  readonly #listingsInFlight = new Map<number, ListingInFlight>();
  /** Directories waiting to be listed ahead, and how many levels below each may follow. */
  #prefetchQueue: PrefetchJob[] = [];
  readonly #prefetchQueued = new Set<number>();
  #prefetchActive = 0;
  /** Small-file contents read ahead (see `contentCacheBytes`), and the reads queued or running. */
  readonly #contents: ContentCache;
  readonly #contentInFlight = new Map<number, Promise<void>>();
  #contentQueue: ContentJob[] = [];
  #contentActive = 0;
  /** The last read-only open (folder, file, when) and until when files are being read folder by folder. */
  #lastReadOpen: { dir: number; ino: number; at: number } | undefined;
  #readWalkUntil = 0;
  /** Folders whose small files were queued for read-ahead, and when. */
  readonly #contentDirs = new Map<number, number>();

  /** A VFS over `client` showing the remote folder `options.root`. */
  constructor(client: FileClient, options: WorkspaceOptions) {
    this.#client = client;
    this.#opts = resolveOptions(options);
    this.#log = this.#opts.log;
    this.#caller = new RemoteCaller(this.#opts.opTimeoutMs, this.#counters, this.#log);
    this.#table = new InodeTable(this.#opts.root);
    this.#notices = new KernelNotices(this.#log);
    this.#ids = new IdMap(this.#opts);
    this.#negative = new NegativeCache(this.#opts.negativeTimeoutMs, this.#opts.now);
    this.#dirs = new DirCache(this.#opts.dirTimeoutMs, this.#opts.now);
    this.#contents = new ContentCache(this.#opts.contentCacheBytes, this.#opts.now);
  }

  /** The options in effect, defaults filled in. */
  get options(): Readonly<ResolvedWorkspaceOptions> {
    return this.#opts;
  }

  /** Connects kernel cache invalidation (available once mounted). */
  attachNotifier(notifier: FuseNotifier): void {
    this.#notices.attach(notifier);
  }

  /** Counters for `rmount status`: ops, bytes, cache hits and misses, table sizes. */
  stats(): WorkspaceStats {
    return this.#counters.snapshot({
      inodes: this.#table.size,
      openFiles: this.#handles.fileCount,
      openDirs: this.#handles.dirCount,
    });
  }

  /**
   * Drops what the caches know about remote `path` and tells the kernel (for remote change
   * events, e.g. the agent's watch). Paths outside the root are ignored.
   */
  invalidate(path: string): void {
    const root = this.#opts.root;
    if (path !== root && !path.startsWith(root === '/' ? '/' : `${root}/`)) return;
    const names = path.slice(root.length).split('/').filter(n => n !== '');
    let node: Node = this.#table.root;
    let parent: Node | undefined;
    for (const name of names) {
      const child = this.#table.child(node, name);
      if (child === undefined) {
        this.#dirs.delete(node.ino);
        this.#negative.delete(node.ino, name);
        this.#notices.entry(node.ino, name);
        this.#notices.sendSoon();
        return;
      }
      parent = node;
      node = child;
    }
    this.#expire(node);
    this.#dirs.delete(node.ino);
    const link = parent === undefined ? undefined : { parent, name: names[names.length - 1]! };
    if (link !== undefined) {
      this.#dirs.delete(link.parent.ino);
      this.#notices.entry(link.parent.ino, link.name);
    }
    const ino = node.ino;
    this.#notices.inode(ino);
    this.#notices.sendSoon();
  }

  /**
   * Drops every cached attribute, symlink target, negative lookup and folder listing, and tells
   * the kernel to drop its attribute, page and name caches for every inode we know
   * (`rmount cache flush`). Open handles and their pending writes are left alone.
   */
  flushCaches(): void {
    this.#negative = new NegativeCache(this.#opts.negativeTimeoutMs, this.#opts.now);
    this.#dirs = new DirCache(this.#opts.dirTimeoutMs, this.#opts.now);
    const pending: Node[] = [this.#table.root];
    for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
      this.#expire(node);
      const ino = node.ino;
      this.#notices.inode(ino);
      for (const [name, child] of node.children) {
        this.#notices.entry(ino, name);
        pending.push(child);
      }
    }
    this.#notices.sendSoon();
  }

  /** Settles and closes every open file (unmount). Write errors are logged. */
  async close(): Promise<void> {
    await Promise.all(this.#handles.allFiles().map(async file => {
      try {
        const error = await file.close();
        if (error !== undefined) this.#log.error(`close ${file.path}: unreported write error`, error);
      } catch (error) {
        this.#log.warn(`close ${file.path} failed`, error);
      }
    }));
  }

  /** Remembers what the kernel negotiated. */
  init(info: ConnectionInfo): void {
    this.#connection = info;
    this.#writeback = info.capabilities.includes('writeback_cache');
    this.#log.debug(`fuse init: protocol ${info.protoMajor}.${info.protoMinor}, max_write ${info.maxWrite}`);
  }

  /** Nothing to do: open handles are closed by release or `close()`. */
  destroy(): void {
    this.#log.debug(`fuse destroy (${this.#connection === undefined ? 'never initialised' : 'initialised'})`);
  }

  /** Resolves `name` in `parent` to an entry (a new kernel reference), or a negative entry. */
  lookup(parent: number, name: string, _ctx: RequestContext): Promise<Entry> {
    return this.#op('lookup', async () => {
      const dir = this.#dir(parent, 'lookup');
      if (name === '.' || name === '..') {
        // Only sent for NFS export ("lookup of .." to reconnect a handle); counts as a reference.
        const target = name === '.' ? dir : (dir.firstLink()?.parent ?? this.#table.root);
        return this.#refEntry(target, await this.#attr(target));
      }
      this.#checkName(name, 'lookup');
      const child = this.#table.child(dir, name);
      if (child !== undefined && this.#handles.filesOf(child).some(f => f.dirty)) await this.#settle(child);
      if (child !== undefined && this.#fresh(child)) {
        this.#counters.cache.entry.hits++;
        return this.#refEntry(child, child.attr!);
      }
      if (this.#negative.has(dir.ino, name)) {
        this.#counters.cache.negative.hits++;
        return this.#negativeEntry('lookup');
      }
      let listing = this.#dirs.get(dir.ino);
      let fetchedForThis = false;
      if (listing !== undefined) {
        this.#counters.cache.dir.hits++;
      } else if (this.#listsForLookup(dir)) {
        fetchedForThis = true;
        // One listing answers this name and every sibling (git status, ls -l, find): one round
        // trip per directory instead of one per name. Concurrent lookups share it.
        this.#counters.cache.dir.misses++;
        const generation = this.#dirs.generation(dir.ino);
        const dirs = this.#dirs;
        listing = await this.#fetchListing(dir, this.#path(dir, 'lookup')).catch((error: unknown) => {
          if (!LISTING_FALLBACK_ERRORS.has((error as FsError).code)) throw error;
          // Unreadable (a search-only folder) or gone: ask for the name, and keep asking for a while.
          this.#dirs.delete(dir.ino);
          return undefined;
        });
        // Changed through us meanwhile: its listing may predate the change, so ask for the name.
        if (listing !== undefined && (dirs !== this.#dirs || generation !== this.#dirs.generation(dir.ino))) listing = undefined;
      }
      const listed = listing?.byName.get(name);
      // "Missing" is taken only from a listing fetched for this lookup: a name missing from an
      // older one may have been made since (a remote build's output), so it is checked by name.
      if (listing !== undefined && listed === undefined && !fetchedForThis) {
        this.#used(dir, listing);
        listing = undefined;
      }
      if (listing !== undefined) {
        this.#used(dir, listing);
        const stat = listed;
        if (stat === undefined) {
          if (this.#table.child(dir, name) !== undefined) this.#table.unlinkName(dir, name);
          this.#negative.add(dir.ino, name);
          return this.#negativeEntry('lookup');
        }
        return this.#resolveEntry(dir, name, stat, listing.fetchedAt);
      }
      this.#counters.cache.entry.misses++;
      const path = joinPath(this.#path(dir, 'lookup'), name);
      let stat: FileStat;
      try {
        stat = await this.#caller.call('lstat', path, () => this.#client.lstat(path));
      } catch (error) {
        if (!isFsError(error, 'ENOENT')) throw error;
        if (this.#table.child(dir, name) !== undefined) this.#table.unlinkName(dir, name);
        this.#negative.add(dir.ino, name);
        this.#counters.cache.negative.misses++;
        return this.#negativeEntry('lookup');
      }
      return this.#resolveEntry(dir, name, stat);
    });
  }

  /** Drops `nlookup` kernel references to `ino`. */
  forget(ino: number, nlookup: number): void {
    Counters.bump(this.#counters.ops, 'forget');
    this.#table.forget(ino, nlookup);
  }

  /** Attributes of `ino`, from the cache while fresh; buffered writes are settled first. */
  getattr(ino: number, _fh: number | undefined, _ctx: RequestContext): Promise<AttrReply> {
    return this.#op('getattr', async () => {
      const node = this.#node(ino, 'getattr');
      await this.#settle(node);
      const stat = await this.#attr(node);
      return { attr: this.#toAttr(node, stat), timeout: this.#opts.attrTimeoutMs / 1000 };
    });
  }

  /**
   * chmod/chown/utimens/truncate. Only the fields that change are sent (UTIME_OMIT stays absent);
   * with `fh` the open handle is used (works after unlink); a symlink is changed itself, never its target.
   */
  setattr(ino: number, changes: SetattrIn, fh: number | undefined, _ctx: RequestContext): Promise<AttrReply> {
    return this.#op('setattr', async () => {
      this.#writable('setattr');
      const node = this.#node(ino, 'setattr');
      const attrs = this.#ids.toRemoteSetAttr(changes);
      await this.#settle(node);
      if (Object.keys(attrs).length > 0) {
        if (attrs.size !== undefined && node.isDir) throw new FsError('EISDIR', 'setattr');
        const file = (fh === undefined ? undefined : this.#handles.findFile(fh))
          ?? (this.#table.pathOf(node) === undefined ? this.#handles.filesOf(node)[0] : undefined);
        if (file !== undefined) {
          await this.#caller.call('handle.setattr', file.path, () => file.remote.setattr(attrs));
        } else {
          const path = this.#path(node, 'setattr');
          if (node.type === S_IFLNK) {
            // Without lsetstat the only way to reach the remote would follow the link: refuse instead.
            if (!this.#client.capabilities.noFollowSetattr) throw new FsError('ENOTSUP', 'setattr', path);
            await this.#caller.call('setattr', path, () => this.#client.setattr(path, attrs, { noFollow: true }));
          } else {
            await this.#caller.call('setattr', path, () => this.#client.setattr(path, attrs));
          }
        }
        if (attrs.size !== undefined) for (const f of this.#handles.filesOf(node)) f.dropReadAhead();
        this.#expire(node);
        this.#parentsChanged(node);
      }
      const stat = await this.#attr(node);
      return { attr: this.#toAttr(node, stat), timeout: this.#opts.attrTimeoutMs / 1000 };
    });
  }

  /** The target of symlink `ino`, cached like attributes. */
  readlink(ino: number, _ctx: RequestContext): Promise<string> {
    return this.#op('readlink', async () => {
      const node = this.#node(ino, 'readlink');
      if (node.type !== S_IFLNK) throw new FsError('EINVAL', 'readlink');
      if (node.linkTarget !== undefined && node.linkTargetExpires > this.#opts.now()) {
        this.#counters.cache.readlink.hits++;
        return node.linkTarget;
      }
      this.#counters.cache.readlink.misses++;
      const path = this.#path(node, 'readlink');
      const target = await this.#caller.call('readlink', path, () => this.#client.readlink(path));
      node.linkTarget = target;
      node.linkTargetExpires = this.#opts.now() + this.#opts.attrTimeoutMs;
      return target;
    });
  }

  /** Only regular files can be made (as an empty exclusive create); other types get EPERM. */
  mknod(parent: number, name: string, mode: number, _rdev: number, ctx: RequestContext): Promise<Entry> {
    return this.#op('mknod', async () => {
      this.#writable('mknod');
      this.#checkName(name, 'mknod');
      if ((mode & S_IFMT) !== S_IFREG && (mode & S_IFMT) !== 0) throw new FsError('EPERM', 'mknod');
      const dir = this.#dir(parent, 'mknod');
      const path = joinPath(this.#path(dir, 'mknod'), name);
      const want = this.#createMode(mode, ctx);
      const handle = await this.#caller.call('open', path,
        () => this.#client.open(path, { read: false, write: true, create: true, exclusive: true }, want));
      await this.#caller.call('handle.close', path, () => handle.close());
      return this.#created(dir, name, path, want);
    });
  }

  /** Creates a directory; mode bits are masked by the caller's umask. */
  mkdir(parent: number, name: string, mode: number, ctx: RequestContext): Promise<Entry> {
    return this.#op('mkdir', async () => {
      this.#writable('mkdir');
      this.#checkName(name, 'mkdir');
      const dir = this.#dir(parent, 'mkdir');
      const path = joinPath(this.#path(dir, 'mkdir'), name);
      const want = this.#createMode(mode, ctx);
      await this.#caller.call('mkdir', path, () => this.#client.mkdir(path, want));
      return this.#created(dir, name, path, want);
    });
  }

  /** Removes a name. An open file stays usable through its remote handle; nothing is left behind. */
  unlink(parent: number, name: string, _ctx: RequestContext): Promise<void> {
    return this.#op('unlink', async () => {
      this.#writable('unlink');
      this.#checkName(name, 'unlink');
      const dir = this.#dir(parent, 'unlink');
      const path = joinPath(this.#path(dir, 'unlink'), name);
      await this.#caller.call('unlink', path, () => this.#client.unlink(path));
      this.#removed(dir, name);
    });
  }

  /** Removes an empty directory; a vague remote error on a non-empty one becomes ENOTEMPTY. */
  rmdir(parent: number, name: string, _ctx: RequestContext): Promise<void> {
    return this.#op('rmdir', async () => {
      this.#writable('rmdir');
      this.#checkName(name, 'rmdir');
      const dir = this.#dir(parent, 'rmdir');
      const path = joinPath(this.#path(dir, 'rmdir'), name);
      try {
        await this.#caller.call('rmdir', path, () => this.#client.rmdir(path));
      } catch (error) {
        if (!isFsError(error) || PRECISE_RENAME_ERRORS.has(error.code)) throw error;
        throw (await this.#nonEmpty(path)) ? new FsError('ENOTEMPTY', 'rmdir', path, { cause: error }) : error;
      }
      this.#dirs.deleteUnder(path);
      this.#removed(dir, name);
    });
  }

  /** Creates symlink `name` → `target` (stored as given). */
  symlink(target: string, parent: number, name: string, _ctx: RequestContext): Promise<Entry> {
    return this.#op('symlink', async () => {
      this.#writable('symlink');
      this.#checkName(name, 'symlink');
      const dir = this.#dir(parent, 'symlink');
      const path = joinPath(this.#path(dir, 'symlink'), name);
      await this.#caller.call('symlink', path, () => this.#client.symlink(target, path));
      return this.#created(dir, name, path);
    });
  }

  /**
   * Renames with POSIX semantics. RENAME_NOREPLACE is passed to the remote; RENAME_EXCHANGE
   * (and any other flag) is EINVAL. The moved node keeps its number and its subtree follows; a
   * replaced target becomes orphaned (its open handles keep working).
   */
  rename(parent: number, name: string, newParent: number, newName: string, flags: number, _ctx: RequestContext): Promise<void> {
    return this.#op('rename', async () => {
      this.#writable('rename');
      this.#checkName(name, 'rename');
      this.#checkName(newName, 'rename');
      if ((flags & RENAME_EXCHANGE) !== 0 || (flags & ~RENAME_NOREPLACE) !== 0) throw new FsError('EINVAL', 'rename');
      const noReplace = (flags & RENAME_NOREPLACE) !== 0;
      const fromDir = this.#dir(parent, 'rename');
      const toDir = this.#dir(newParent, 'rename');
      const from = joinPath(this.#path(fromDir, 'rename'), name);
      const to = joinPath(this.#path(toDir, 'rename'), newName);
      try {
        await this.#caller.call('rename', from, () => noReplace
          ? this.#client.rename(from, to, { noReplace: true })
          : this.#client.rename(from, to));
      } catch (error) {
        throw await this.#refineRenameError(error, from, to, noReplace);
      }
      if (from === to) return;
      if (this.#table.child(fromDir, name)?.isDir !== false) {
        // Listings kept for the old folder's subtree (and a replaced folder's) must not resurface.
        this.#dirs.deleteUnder(from);
        this.#dirs.deleteUnder(to);
      }
      const { moved, replaced } = this.#table.move(fromDir, name, toDir, newName);
      if (moved !== undefined) this.#expire(moved);
      if (replaced !== undefined) this.#expire(replaced);
      this.#dirChanged(fromDir);
      this.#dirChanged(toDir);
      this.#negative.add(fromDir.ino, name);
      this.#negative.delete(toDir.ino, newName);
    });
  }

  /** Makes a hard link: the new name shows the same inode number. */
  link(ino: number, newParent: number, newName: string, _ctx: RequestContext): Promise<Entry> {
    return this.#op('link', async () => {
      this.#writable('link');
      this.#checkName(newName, 'link');
      const node = this.#node(ino, 'link');
      const dir = this.#dir(newParent, 'link');
      const existing = this.#path(node, 'link');
      const path = joinPath(this.#path(dir, 'link'), newName);
      await this.#caller.call('link', path, () => this.#client.link(existing, path));
      this.#table.addLink(node, dir, newName);
      this.#negative.delete(dir.ino, newName);
      this.#dirChanged(dir);
      this.#parentsChanged(node);
      const stat = await this.#caller.call('lstat', path, () => this.#client.lstat(path));
      this.#storeAttr(node, stat);
      return this.#refEntry(node, stat);
    });
  }

  /** Opens a regular file (flags: open(2) flags; O_TRUNC and O_APPEND honoured). */
  open(ino: number, flags: number, _ctx: RequestContext): Promise<OpenReply> {
    return this.#op('open', async () => {
      const node = this.#node(ino, 'open');
      if (node.isDir) throw new FsError('EISDIR', 'open');
      const mode = this.#access(flags);
      const truncate = (flags & O_TRUNC) !== 0;
      if (this.#opts.readOnly && (mode.write || truncate)) throw new FsError('EROFS', 'open');
      const path = this.#path(node, 'open');
      const keepCache = this.#opts.kernelCache;
      if (!mode.write && !truncate && node.type === S_IFREG) {
        const fh = await this.#openFromContent(node, path, mode);
        if (fh !== undefined) return { fh, keepCache };
      }
      if (truncate) await this.#settle(node);
      const remote = await this.#caller.call('open', path,
        () => this.#client.open(path, { ...mode, ...(truncate ? { truncate: true } : {}) }));
      if (truncate) this.#truncated(node);
      return { fh: this.#addFile(node, remote, mode), keepCache };
    });
  }

  /** Creates (or with O_EXCL, exclusively creates) and opens a regular file. */
  create(parent: number, name: string, mode: number, flags: number, ctx: RequestContext): Promise<CreateReply> {
    return this.#op('create', async () => {
      this.#writable('create');
      this.#checkName(name, 'create');
      const dir = this.#dir(parent, 'create');
      const path = joinPath(this.#path(dir, 'create'), name);
      const access = this.#access(flags);
      const openFlags: OpenFlags = { ...access, create: true };
      if ((flags & O_EXCL) !== 0) openFlags.exclusive = true;
      if ((flags & O_TRUNC) !== 0) openFlags.truncate = true;
      const existing = this.#table.child(dir, name);
      if (existing !== undefined && openFlags.truncate === true) await this.#settle(existing);
      const want = this.#createMode(mode, ctx);
      // Exclusive first, so that we know whether we made the file (and may make its mode exact);
      // the kernel creates only names it believes missing, so the second try is rare.
      const tryOpen = (flagsNow: OpenFlags) => {
        const opening = this.#caller.call('open', path, () => this.#client.open(path, flagsNow, want));
        // An lstat sent right behind the OPEN is answered after it (SFTP servers take one channel's
        // requests in order): the new file's attributes in the same round trip. Where that order is
        // not kept (another client, a backend running calls concurrently) the handle is asked.
        const early = this.#caller.call('lstat', path, () => this.#client.lstat(path)).catch(() => undefined);
        return { opening, early };
      };
      let attempt = tryOpen({ ...openFlags, exclusive: true });
      let created = true;
      let remote: FileHandle;
      try {
        remote = await attempt.opening;
      } catch (error) {
        if (openFlags.exclusive === true || !isFsError(error, 'EEXIST')) throw error;
        created = false;
        attempt = tryOpen(openFlags);
        remote = await attempt.opening;
      }
      let stat = await attempt.early;
      try {
        if (stat === undefined || (stat.mode & S_IFMT) !== S_IFREG || (openFlags.truncate === true && stat.size !== 0)) {
          stat = await this.#caller.call('handle.stat', path, () => remote.stat());
        }
        if (created) stat = await this.#exactMode(stat, want, path, remote);
      } catch (error) {
        await this.#caller.call('handle.close', path, () => remote.close()).catch(() => undefined);
        throw error;
      }
      this.#negative.delete(dir.ino, name);
      this.#dirChanged(dir);
      const { node } = this.#table.resolve(dir, name, stat);
      if (openFlags.truncate === true) this.#truncated(node);
      this.#storeAttr(node, stat);
      const entry = this.#refEntry(node, stat);
      return { entry, open: { fh: this.#addFile(node, remote, access) } };
    });
  }

  /** Reads through the handle's read-ahead window; writes on this file are settled first. */
  read(ino: number, fh: number, size: number, offset: number, _ctx: RequestContext): Promise<Uint8Array> {
    return this.#op('read', async () => {
      const file = this.#handles.file(fh, 'read');
      await this.#settle(file.node);
      const data = await file.read(size, offset);
      this.#counters.bytesRead += data.length;
      return data;
    });
  }

  /** Gathers the write; it reaches the remote in the background (errors surface on flush). */
  write(ino: number, fh: number, data: Buffer, offset: number, _ctx: RequestContext): Promise<number> {
    return this.#op('write', async () => {
      if (this.#opts.readOnly) throw new FsError('EROFS', 'write');
      const file = this.#handles.file(fh, 'write');
      if (!file.writable) throw new FsError('EBADF', 'write', file.path);
      const node = file.node;
      for (const other of this.#handles.filesOf(node)) if (other !== file) other.dropReadAhead();
      const n = await file.write(data, offset);
      this.#counters.bytesWritten += n;
      if (node.attr !== undefined) {
        const now = nowTimespec();
        const size = file.append ? node.attr.size + n : Math.max(node.attr.size, offset + n);
        node.attr = { ...node.attr, size, mtime: now, ctime: now };
        node.attrFromRemote = false;
      }
      this.#parentsChanged(node);
      return n;
    });
  }

  /** close(2) of one descriptor: settles writes and reports a write failure. */
  flush(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('flush', async () => {
      const file = this.#handles.file(fh, 'flush');
      if (file.writable) await file.push();
      else await file.settle();
      if (file.writable) this.#expire(file.node);
      const error = file.takeError();
      if (error !== undefined) throw error;
    });
  }

  /** Last close: settles writes, closes the remote handle, and lets the node go if unreferenced. */
  release(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('release', async () => {
      const file = this.#handles.file(fh, 'release');
      let error: FsError | undefined;
      try {
        error = await file.close();
      } finally {
        this.#handles.removeFile(fh);
        const node = file.node;
        node.opens--;
        if (file.writable) this.#expire(node);
        this.#table.maybeDrop(node);
      }
      if (error !== undefined) {
        this.#log.warn(`release ${file.path}: write error not reported by flush`, error);
        throw error;
      }
    });
  }

  /** Settles writes, then syncs; a successful no-op (logged once) when the remote cannot fsync. */
  fsync(ino: number, fh: number, _datasync: boolean, _ctx: RequestContext): Promise<void> {
    return this.#op('fsync', async () => {
      const file = this.#handles.file(fh, 'fsync');
      await file.settle();
      const error = file.takeError();
      if (error !== undefined) throw error;
      if (!this.#client.capabilities.fsync) {
        if (!this.#fsyncNoticeLogged) {
          this.#fsyncNoticeLogged = true;
          this.#log.info('the remote cannot fsync (no fsync@openssh.com): fsync only waits for writes to be acknowledged');
        }
        return;
      }
      await this.#caller.call('handle.sync', file.path, () => file.remote.sync());
    });
  }

  /** Opens a directory and snapshots its listing, so offsets stay consistent. */
  opendir(ino: number, _flags: number, _ctx: RequestContext): Promise<OpenReply> {
    return this.#op('opendir', async () => {
      const node = this.#dir(ino, 'opendir');
      const listing = await this.#listing(node);
      node.opens++;
      const fh = this.#handles.addDir({ node, entries: listing.entries, fetchedAt: listing.fetchedAt, read: false });
      return { fh };
    });
  }

  /** Entries from `offset` (a cookie from an earlier answer) that fit in `size` bytes. */
  readdir(ino: number, fh: number, offset: number, size: number, _ctx: RequestContext): Promise<DirentOut[]> {
    return this.#op('readdir', async () => {
      const handle = await this.#dirHandleAt(fh, offset, 'readdir');
      const out: DirentOut[] = [];
      let used = 0;
      for (let i = offset; i < handle.entries.length + 2; i++) {
        const { name, ino: entryIno, mode } = this.#dotOrEntry(handle, i);
        used += direntSize(name);
        if (used > size) break;
        out.push({ name, ino: entryIno, mode, offset: i + 1 });
      }
      return out;
    });
  }

  /**
   * Like readdir, with each entry's attributes from the same listing (no round trip per entry).
   * Every entry but "." and ".." is a kernel reference.
   */
  readdirplus(ino: number, fh: number, offset: number, size: number, _ctx: RequestContext): Promise<DirentPlusOut[]> {
    return this.#op('readdirplus', async () => {
      const handle = await this.#dirHandleAt(fh, offset, 'readdirplus');
      const dir = handle.node;
      const out: DirentPlusOut[] = [];
      let used = 0;
      for (let i = offset; i < handle.entries.length + 2; i++) {
        const name = i === 0 ? '.' : i === 1 ? '..' : handle.entries[i - 2]!.name;
        used += direntPlusSize(name);
        if (used > size) break;
        let entry: Entry;
        if (i < 2) {
          const target = i === 0 ? dir : (dir.firstLink()?.parent ?? this.#table.root);
          entry = this.#entryOf(target, target.attr ?? placeholderDirStat());
        } else {
          const { stat } = handle.entries[i - 2]!;
          entry = this.#resolveEntry(dir, name, stat, handle.fetchedAt);
        }
        out.push({ name, entry, offset: i + 1 });
      }
      return out;
    });
  }

  /** Closes a directory handle. */
  releasedir(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('releasedir', async () => {
      const handle = this.#handles.removeDir(fh);
      if (handle === undefined) throw new FsError('EBADF', 'releasedir');
      handle.node.opens--;
      this.#table.maybeDrop(handle.node);
    });
  }

  /** Directory changes are made synchronously by the remote: nothing to sync. */
  fsyncdir(_ino: number, _fh: number, _datasync: boolean, _ctx: RequestContext): Promise<void> {
    return this.#op('fsyncdir', async () => undefined);
  }

  /** statvfs of the remote file system holding the root; namemax is at most 255. */
  statfs(_ino: number, _ctx: RequestContext): Promise<StatFs> {
    return this.#op('statfs', async () => {
      const root = this.#opts.root;
      const stat = await this.#caller.call('statfs', root, () => this.#client.statfs(root));
      const flag = this.#opts.readOnly ? stat.flag | 1 : stat.flag;
      return { ...stat, flag, namemax: Math.min(stat.namemax > 0 ? stat.namemax : NAME_MAX, NAME_MAX) };
    });
  }

  /**
   * access(2) against the cached mode as this mount shows it (mapped ids, umask applied). Root
   * (uid 0) is always granted, as the kernel would for a local file system, except for W_OK on a
   * read-only mount (EROFS). The remote still has the last word when the operation is made.
   */
  access(ino: number, mask: number, ctx: RequestContext): Promise<void> {
    return this.#op('access', async () => {
      const node = this.#node(ino, 'access');
      if (this.#opts.readOnly && (mask & W_OK) !== 0) throw new FsError('EROFS', 'access');
      const attr = this.#toAttr(node, await this.#attr(node));
      if (mask === 0 || ctx.uid === 0) return;
      const bits = ctx.uid === attr.uid ? (attr.mode >> 6) & 7 : ctx.gid === attr.gid ? (attr.mode >> 3) & 7 : attr.mode & 7;
      if ((mask & (R_OK | W_OK | X_OK) & ~bits) !== 0) throw new FsError('EACCES', 'access');
    });
  }

  /** Runs one op: counts it, makes sure the root owner is known, converts failures once. */
  async #op<T>(name: string, fn: () => Promise<T>): Promise<T> {
    Counters.bump(this.#counters.ops, name);
    try {
      if (this.#ids.needsRootOwner) await this.#loadRootOwner();
      return await fn();
    } catch (error) {
      const fsError = toFsError(error, name, undefined, this.#log);
      Counters.bump(this.#counters.errors, fsError.code);
      throw fsError;
    } finally {
      this.#notices.sendSoon();
    }
  }

  async #loadRootOwner(): Promise<void> {
    const root = this.#opts.root;
    await this.#ids.load(async () => {
      const stat = await this.#caller.call('lstat', root, () => this.#client.lstat(root));
      this.#storeAttr(this.#table.root, stat);
      return stat;
    });
  }

  #node(ino: number, syscall: string): Node {
    const node = this.#table.get(ino);
    if (node === undefined) throw new FsError('ENOENT', syscall);
    return node;
  }

  #dir(ino: number, syscall: string): Node {
    const node = this.#node(ino, syscall);
    if (!node.isDir) throw new FsError('ENOTDIR', syscall);
    return node;
  }

  /** The remote path of `node`. @throws FsError ENOENT when it has no name any more. */
  #path(node: Node, syscall: string): string {
    const path = this.#table.pathOf(node);
    if (path === undefined) throw new FsError('ENOENT', syscall);
    return path;
  }

  #checkName(name: string, syscall: string): void {
    if (Buffer.byteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', syscall);
    if (name === '' || name.includes('/') || name === '.' || name === '..') throw new FsError('EINVAL', syscall);
  }

  #writable(syscall: string): void {
    if (this.#opts.readOnly) throw new FsError('EROFS', syscall);
  }

  /** open(2) flags → remote access; under writeback caching a write-only open reads too and never appends. */
  #access(flags: number): { read: boolean; write: boolean; append: boolean } {
    const access = decodeAccess(flags);
    if (this.#writeback && access.write) return { read: true, write: true, append: false };
    return access;
  }

  #createMode(mode: number, ctx: RequestContext): number {
    return mode & 0o7777 & ~ctx.umask;
  }

  #fresh(node: Node): boolean {
    return node.attr !== undefined && node.attrExpires > this.#opts.now();
  }

  /** Marks `node`'s attributes stale after a mutation of ours (no remote-change notice on refetch). */
  #expire(node: Node): void {
    this.#contents.delete(node.ino);
    node.attrExpires = 0;
    node.attrFromRemote = false;
    node.linkTargetExpires = 0;
  }

  /** Something in `dir` changed through us: its listing and its own mtime/nlink are stale. */
  #dirChanged(dir: Node): void {
    this.#dirs.delete(dir.ino);
    this.#expire(dir);
  }

  /** `node` changed (size, times, links): listings that show it are stale. */
  #parentsChanged(node: Node): void {
    for (const { parent } of node.links.values()) this.#dirs.delete(parent.ino);
  }

  /**
   * Stores remote attributes. When the previous ones also came from the remote and a regular
   * file's size or mtime differs, it changed behind our back: the kernel's page cache is dropped.
   */
  #storeAttr(node: Node, stat: FileStat, fetchedAt = this.#opts.now()): void {
    const old = node.attr;
    if (old !== undefined && node.attrFromRemote && node.type === S_IFREG
      && (old.size !== stat.size || old.mtime.sec !== stat.mtime.sec || old.mtime.nsec !== stat.mtime.nsec)) {
      const ino = node.ino;
      this.#notices.inode(ino);
    }
    if (node.type === S_IFLNK && old !== undefined
      && (old.mtime.sec !== stat.mtime.sec || old.mtime.nsec !== stat.mtime.nsec)) node.linkTargetExpires = 0;
    node.attr = stat;
    node.attrExpires = fetchedAt + this.#opts.attrTimeoutMs;
    node.attrFromRemote = true;
  }

  /** Fresh attributes of `node`: from the cache, the path, or (when orphaned) an open handle. */
  async #attr(node: Node): Promise<FileStat> {
    if (this.#fresh(node)) {
      this.#counters.cache.attr.hits++;
      return node.attr!;
    }
    this.#counters.cache.attr.misses++;
    for (;;) {
      const path = this.#table.pathOf(node);
      if (path === undefined) break;
      const fromListing = await this.#attrFromListing(node);
      if (fromListing === 'gone') {
        this.#vanished(node);
        continue;
      }
      if (fromListing !== undefined) return fromListing;
      try {
        const stat = await this.#caller.call('lstat', path, () => this.#client.lstat(path));
        if ((stat.mode & S_IFMT) !== node.type) throw new FsError('ENOENT', 'lstat', path);
        this.#storeAttr(node, stat);
        return stat;
      } catch (error) {
        if ((!isFsError(error, 'ENOENT') && !isFsError(error, 'ENOTDIR')) || node === this.#table.root) throw error;
        // Gone on the server (or replaced by another type): drop that name, try the node's other names.
        this.#vanished(node);
      }
    }
    const file = this.#handles.filesOf(node)[0];
    if (file !== undefined) {
      const stat = await this.#caller.call('handle.stat', file.path, () => file.remote.stat());
      this.#storeAttr(node, stat);
      return stat;
    }
    throw new FsError('ENOENT', 'getattr');
  }

  /**
   * Attributes of `node` from a listing of its parent (cached while younger than the attribute
   * lifetime, else read now and shared with every sibling), or 'gone' when the listing lacks
   * its name. Undefined when a plain lstat should answer: the root, a file open for writing
   * (our view wins), a parent being changed through us or too large, attribute caching off,
   * or a listing that failed.
   */
  async #attrFromListing(node: Node): Promise<FileStat | 'gone' | undefined> {
    const link = node.firstLink();
    if (link === undefined || this.#opts.attrTimeoutMs <= 0) return undefined;
    if (this.#handles.filesOf(node).some(f => f.writable)) return undefined;
    const { parent, name } = link;
    let listing = this.#dirs.get(parent.ino);
    if (listing !== undefined && listing.fetchedAt + this.#opts.attrTimeoutMs <= this.#opts.now()) listing = undefined;
    if (listing === undefined) {
      if (!this.#listsForLookup(parent)) return undefined;
      const path = this.#table.pathOf(parent);
      if (path === undefined) return undefined;
      const generation = this.#dirs.generation(parent.ino);
      const dirs = this.#dirs;
      listing = await this.#fetchListing(parent, path).catch((error: unknown) => {
        if (!LISTING_FALLBACK_ERRORS.has((error as FsError).code)) throw error;
        this.#dirs.delete(parent.ino);
        return undefined;
      });
      if (listing === undefined || dirs !== this.#dirs || generation !== this.#dirs.generation(parent.ino)) return undefined;
    }
    this.#used(parent, listing);
    if (node.firstLink()?.parent !== parent || node.firstLink()?.name !== name) return undefined;
    const stat = listing.byName.get(name);
    if (stat === undefined || (stat.mode & S_IFMT) !== node.type
      || (stat.ino !== undefined && node.remoteIno !== undefined && stat.ino !== node.remoteIno)) return 'gone';
    this.#storeAttr(node, stat, listing.fetchedAt);
    return stat;
  }

  /** True when a lookup in `dir` (not cached) should read the whole listing rather than lstat one name. */
  #listsForLookup(dir: Node): boolean {
    const max = this.#opts.listingLookupMaxEntries;
    if (max <= 0 || this.#opts.dirTimeoutMs <= 0 || this.#dirs.recentlyChanged(dir.ino)) return false;
    return (this.#dirs.lastSize(dir.ino) ?? 0) <= max;
  }

  /**
   * Reads the listing of `dir` from the remote (or joins the read in flight for it), stores it
   * with its children's attributes, and returns it. Listings read while the directory changed
   * through us are returned but not stored.
   */
  #fetchListing(dir: Node, path: string, prefetched = false): Promise<Listing> {
    const ino = dir.ino;
    const dirs = this.#dirs;
    const generation = dirs.generation(ino);
    const running = this.#listingsInFlight.get(ino);
    if (running !== undefined && running.dirs === dirs && running.generation === generation && running.path === path) {
      return running.promise;
    }
    const record = { dirs, generation, path } as ListingInFlight;
    record.promise = (async (): Promise<Listing> => {
      try {
        let entries: DirEntry[];
        try {
          entries = await this.#caller.call('readdir', path, () => this.#client.readdir(path));
        } catch (error) {
          if (!prefetched && isFsError(error, 'ENOENT') && dir !== this.#table.root && this.#table.pathOf(dir) === path) this.#vanished(dir);
          throw error;
        }
        return this.#storeListing(dir, path, entries, dirs, generation, prefetched);
      } finally {
        if (this.#listingsInFlight.get(ino) === record) this.#listingsInFlight.delete(ino);
      }
    })();
    this.#listingsInFlight.set(ino, record);
    return record.promise;
  }

  #storeListing(dir: Node, path: string, entries: DirEntry[], dirs: DirCache, generation: number, prefetched: boolean): Listing {
    const listing = dirs.set(dir.ino, path, entries, generation, prefetched);
    if (dirs !== this.#dirs || generation !== dirs.generation(dir.ino) || this.#table.pathOf(dir) !== path) return listing;
    for (const { name, stat } of entries) {
      const child = this.#table.child(dir, name);
      if (child === undefined || child.type !== (stat.mode & S_IFMT)) continue;
      if (stat.ino !== undefined && child.remoteIno !== undefined && stat.ino !== child.remoteIno) continue;
      if (this.#handles.filesOf(child).some(f => f.writable)) continue;
      this.#storeAttr(child, stat, listing.fetchedAt);
    }
    for (const { name } of entries) this.#negative.delete(dir.ino, name);
    return listing;
  }

  /**
   * A request used `listing` of `dir`: the walk is there, so list its subdirectories ahead —
   * `prefetchDepth` levels when it was itself read ahead (the walk follows the read-ahead), at
   * most two for a listing read on demand (`ls` of one folder stops there).
   */
  #used(dir: Node, listing: Listing): void {
    if (listing.prefetched) {
      listing.prefetched = false;
      this.#counters.cache.prefetch.hits++;
      this.#prefetchChildren(dir, listing, this.#opts.prefetchDepth);
    } else if (!listing.expanded) {
      this.#prefetchChildren(dir, listing, Math.min(2, this.#opts.prefetchDepth));
    }
    listing.expanded = true;
  }

  /** Queues the subdirectories of `dir` (from `listing`) for listing ahead, `depth` levels deep. */
  #prefetchChildren(dir: Node, listing: Listing, depth: number): void {
    if (depth <= 0 || this.#opts.prefetchConcurrency <= 0 || this.#table.get(dir.ino) !== dir) return;
    if (this.#table.pathOf(dir) !== listing.path) return;
    for (const { name, stat } of listing.entries) {
      if ((stat.mode & S_IFMT) !== S_IFDIR) continue;
      if (this.#prefetchQueue.length >= this.#opts.prefetchQueueMax) break;
      const known = this.#table.child(dir, name);
      if (known !== undefined && known.type === S_IFDIR) {
        const cached = this.#dirs.get(known.ino);
        // Already listed: the read-ahead goes on below it.
        if (cached !== undefined) this.#prefetchChildren(known, cached, depth - 1);
        if (cached !== undefined || this.#listingsInFlight.has(known.ino) || this.#prefetchQueued.has(known.ino)) continue;
      }
      // A node (no kernel reference yet) gives the listing the number a later lookup will find.
      const { node, replaced } = this.#table.resolve(dir, name, stat);
      if (replaced !== undefined) this.#expire(replaced);
      if (!this.#fresh(node)) this.#storeAttr(node, stat, listing.fetchedAt);
      if (this.#dirs.has(node.ino) || this.#listingsInFlight.has(node.ino) || this.#prefetchQueued.has(node.ino)) continue;
      this.#prefetchQueue.push({ node, depth });
      this.#prefetchQueued.add(node.ino);
    }
    this.#pumpPrefetch();
  }

  /** Starts queued read-aheads up to `prefetchConcurrency` at once. Failures are ignored. */
  #pumpPrefetch(): void {
    while (this.#prefetchActive < this.#opts.prefetchConcurrency && this.#prefetchQueue.length > 0) {
      const { node, depth } = this.#prefetchQueue.shift()!;
      this.#prefetchQueued.delete(node.ino);
      if (this.#table.get(node.ino) !== node || this.#dirs.has(node.ino) || this.#listingsInFlight.has(node.ino)) continue;
      if (this.#dirs.recentlyChanged(node.ino)) continue;
      const path = this.#table.pathOf(node);
      if (path === undefined) continue;
      this.#prefetchActive++;
      this.#counters.cache.prefetch.misses++;
      this.#fetchListing(node, path, true)
        .then(listing => {
          if (listing.prefetched) this.#prefetchChildren(node, listing, depth - 1);
        }, () => undefined)
        .finally(() => {
          this.#prefetchActive--;
          this.#pumpPrefetch();
        });
    }
    if (this.#prefetchQueue.length === 0 && this.#prefetchActive === 0) this.#prefetchQueue = [];
  }

  /**
   * A read-only open of `node`: answered with no round trip when its content was read ahead and
   * still matches its fresh attributes (the remote file is opened only if something needs it).
   * Notes the open, so that a folder read file by file gets its small files read ahead.
   */
  async #openFromContent(node: Node, path: string, mode: { read: boolean; write: boolean; append: boolean }): Promise<number | undefined> {
    if (this.#opts.contentCacheBytes <= 0) return undefined;
    this.#noteReadOpen(node);
    const pending = this.#contentInFlight.get(node.ino);
    if (pending !== undefined) await pending;
    if (!this.#fresh(node) || !node.attrFromRemote || this.#handles.filesOf(node).some(f => f.writable)) return undefined;
    const data = this.#contents.get(node.ino, node.attr!);
    if (data === undefined) return undefined;
    this.#counters.cache.content.hits++;
    const lazy = new LazyFileHandle(path, () => this.#table.pathOf(node),
      p => this.#caller.call('open', p, () => this.#client.open(p, { read: true, write: false })));
    return this.#addFile(node, lazy, mode, data);
  }

  /**
   * Two different files of one folder opened read-only within a second (or any folder while that
   * pattern holds) start reading the folder's other small files ahead.
   */
  #noteReadOpen(node: Node): void {
    const dir = node.firstLink()?.parent;
    if (dir === undefined) return;
    const now = this.#opts.now();
    const last = this.#lastReadOpen;
    this.#lastReadOpen = { dir: dir.ino, ino: node.ino, at: now };
    const walking = now < this.#readWalkUntil
      || (last !== undefined && last.dir === dir.ino && last.ino !== node.ino && now - last.at < 1000);
    if (!walking) return;
    this.#readWalkUntil = now + 2000;
    const queued = this.#contentDirs.get(dir.ino);
    if (queued !== undefined && now - queued < this.#opts.attrTimeoutMs) return;
    this.#contentDirs.set(dir.ino, now);
    if (this.#contentDirs.size > 4096) this.#contentDirs.delete(this.#contentDirs.keys().next().value!);
    void this.#prefetchContents(dir, node).catch(error => this.#log.debug('content read-ahead failed', error));
  }

  /** Queues the small regular files of `dir` (names after `current`'s first) for reading ahead. */
  async #prefetchContents(dir: Node, current: Node): Promise<void> {
    let listing = this.#dirs.get(dir.ino);
    if (listing === undefined) {
      const path = this.#table.pathOf(dir);
      if (path === undefined) return;
      listing = await this.#fetchListing(dir, path);
    }
    if (this.#table.get(dir.ino) !== dir || this.#table.pathOf(dir) !== listing.path) return;
    const currentName = current.firstLink()?.name ?? '';
    const files = listing.entries
      .filter(e => (e.stat.mode & S_IFMT) === S_IFREG && e.stat.size <= this.#opts.contentMaxFileBytes)
      .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    const after = files.findIndex(e => Buffer.compare(Buffer.from(e.name), Buffer.from(currentName)) > 0);
    const ordered = after < 0 ? files : [...files.slice(after), ...files.slice(0, after)];
    let budget = this.#opts.contentCacheBytes / 4;
    for (const { name, stat } of ordered) {
      if (budget < stat.size || this.#contentQueue.length >= this.#opts.prefetchQueueMax) break;
      const { node, replaced } = this.#table.resolve(dir, name, stat);
      if (replaced !== undefined) this.#expire(replaced);
      if (node === current || this.#contentInFlight.has(node.ino) || this.#contents.has(node.ino)) continue;
      if (this.#handles.filesOf(node).some(f => f.writable)) continue;
      if (!this.#fresh(node)) this.#storeAttr(node, stat, listing.fetchedAt);
      budget -= stat.size;
      if (stat.size === 0) {
        this.#contents.set(node.ino, { data: Buffer.alloc(0), size: 0, mtimeSec: stat.mtime.sec, mtimeNsec: stat.mtime.nsec,
          expires: listing.fetchedAt + this.#opts.attrTimeoutMs });
        continue;
      }
      let release!: () => void;
      this.#contentInFlight.set(node.ino, new Promise<void>(resolve => { release = resolve; }));
      this.#contentQueue.push({ node, stat, fetchedAt: listing.fetchedAt, release });
    }
    this.#pumpContents();
  }

  /** Reads queued small files, `prefetchConcurrency` at once. */
  #pumpContents(): void {
    const most = Math.max(1, this.#opts.prefetchConcurrency);
    while (this.#contentActive < most && this.#contentQueue.length > 0) {
      const job = this.#contentQueue.shift()!;
      this.#contentActive++;
      this.#fetchContent(job.node, job.stat, job.fetchedAt)
        .catch(() => undefined)
        .finally(() => {
          this.#contentInFlight.delete(job.node.ino);
          job.release();
          this.#contentActive--;
          this.#pumpContents();
        });
    }
  }

  /** OPEN, one READ of the whole file, CLOSE in the background; kept if it is the size the listing said. */
  async #fetchContent(node: Node, stat: FileStat, fetchedAt: number): Promise<void> {
    const path = this.#table.pathOf(node);
    if (path === undefined || this.#opts.now() >= fetchedAt + this.#opts.attrTimeoutMs) return;
    this.#counters.cache.content.misses++;
    const handle = await this.#caller.call('open', path, () => this.#client.open(path, { read: true, write: false }));
    try {
      const data = Buffer.allocUnsafe(stat.size);
      const n = await this.#caller.call('handle.read', path, () => handle.read(data, 0, stat.size, 0));
      this.#counters.remoteBytesRead += n;
      if (n !== stat.size || this.#table.get(node.ino) !== node) return;
      this.#contents.set(node.ino, { data, size: stat.size, mtimeSec: stat.mtime.sec, mtimeNsec: stat.mtime.nsec,
        expires: fetchedAt + this.#opts.attrTimeoutMs });
    } finally {
      this.#caller.call('handle.close', path, () => handle.close()).catch(() => undefined);
    }
  }

  /** The first name of `node` no longer exists remotely: forget it and tell the kernel. */
  #vanished(node: Node): void {
    const link = node.firstLink();
    if (link === undefined) return;
    const { parent, name } = link;
    this.#table.unlinkName(parent, name);
    this.#dirs.delete(parent.ino);
    this.#negative.add(parent.ino, name);
    const parentIno = parent.ino;
    this.#notices.entry(parentIno, name);
  }

  /** Waits until every open file of `node` has its writes acknowledged (errors stay on the handles). */
  async #settle(node: Node): Promise<void> {
    const files = this.#handles.filesOf(node);
    if (files.length > 0) await Promise.all(files.map(f => f.settle()));
  }

  /** The node for `name` in `dir` with remote attributes `stat`, as a new kernel reference. */
  #resolveEntry(dir: Node, name: string, stat: FileStat, fetchedAt?: number): Entry {
    const { node, replaced } = this.#table.resolve(dir, name, stat);
    if (replaced !== undefined) this.#expire(replaced);
    // Our own newer knowledge (unsettled writes, a later stat) wins over an older listing.
    if (!this.#fresh(node) || (fetchedAt === undefined && !this.#handles.filesOf(node).some(f => f.writable))) {
      this.#storeAttr(node, stat, fetchedAt);
    }
    return this.#refEntry(node, node.attr ?? stat);
  }

  /** A new kernel reference to `node`. */
  #refEntry(node: Node, stat: FileStat): Entry {
    this.#table.ref(node);
    return this.#entryOf(node, stat);
  }

  #entryOf(node: Node, stat: FileStat): Entry {
    return {
      ino: node.ino,
      generation: node.generation,
      attr: this.#toAttr(node, stat),
      attrTimeout: this.#opts.attrTimeoutMs / 1000,
      entryTimeout: this.#opts.entryTimeoutMs / 1000,
    };
  }

  /** A cached "no such name" for the kernel, or ENOENT when negative caching is off. */
  #negativeEntry(syscall: string): Entry {
    if (this.#opts.negativeTimeoutMs <= 0) throw new FsError('ENOENT', syscall);
    return {
      ino: 0,
      generation: 0,
      attr: this.#toAttr(undefined, placeholderDirStat()),
      attrTimeout: 0,
      entryTimeout: this.#opts.negativeTimeoutMs / 1000,
    };
  }

  /**
   * A file or folder we just made has mode `want` exactly (the kernel already applied the caller's
   * umask): a remote that applied its own umask too gets a chmod. A folder may keep a set-group-ID
   * bit it inherited from its parent, as on a local disk.
   */
  async #exactMode(stat: FileStat, want: number, path: string, handle?: FileHandle): Promise<FileStat> {
    let have = stat.mode & 0o7777;
    if ((stat.mode & S_IFMT) === S_IFDIR && (want & 0o2000) === 0) have &= ~0o2000;
    if (have === want) return stat;
    const mode = { mode: (stat.mode & S_IFMT) === S_IFDIR ? want | (stat.mode & 0o2000) : want };
    await (handle === undefined
      ? this.#caller.call('setattr', path, () => this.#client.setattr(path, mode))
      : this.#caller.call('handle.setattr', path, () => handle.setattr(mode)));
    return { ...stat, mode: (stat.mode & S_IFMT) | mode.mode };
  }

  /** After mkdir/symlink/mknod: the new name's entry from one lstat (and its mode made exact). */
  async #created(dir: Node, name: string, path: string, want?: number): Promise<Entry> {
    this.#negative.delete(dir.ino, name);
    this.#dirChanged(dir);
    let stat = await this.#caller.call('lstat', path, () => this.#client.lstat(path));
    if (want !== undefined) stat = await this.#exactMode(stat, want, path);
    const { node } = this.#table.resolve(dir, name, stat);
    if (node.isDir) this.#dirs.delete(node.ino);
    this.#storeAttr(node, stat);
    return this.#refEntry(node, stat);
  }

  /** After unlink/rmdir of `name` in `dir`. The node may live on, orphaned, for its open handles. */
  #removed(dir: Node, name: string): void {
    const node = this.#table.unlinkName(dir, name);
    if (node !== undefined) {
      this.#expire(node);
      if (node.attr !== undefined && node.attr.nlink !== undefined) {
        node.attr = { ...node.attr, nlink: Math.max(0, node.attr.nlink - 1) };
      }
      this.#parentsChanged(node);
    }
    this.#dirChanged(dir);
    this.#negative.add(dir.ino, name);
  }

  /** The file was cut to 0 bytes through us. */
  #truncated(node: Node): void {
    for (const f of this.#handles.filesOf(node)) f.dropReadAhead();
    if (node.attr !== undefined) node.attr = { ...node.attr, size: 0 };
    this.#expire(node);
    this.#parentsChanged(node);
  }

  #addFile(node: Node, remote: OpenFile['remote'], access: { read: boolean; write: boolean; append: boolean }, preloaded?: Buffer): number {
    const file = new OpenFile(node, remote, access, this.#caller, this.#counters, this.#opts, this.#handles.writeOrder(node), preloaded);
    node.opens++;
    return this.#handles.addFile(file);
  }

  /** The listing of `dir`: cached while fresh, else one remote readdir that also refreshes child attributes. */
  async #listing(dir: Node): Promise<Listing> {
    const cached = this.#dirs.get(dir.ino);
    if (cached !== undefined) {
      this.#counters.cache.dir.hits++;
      this.#used(dir, cached);
      return cached;
    }
    this.#counters.cache.dir.misses++;
    const listing = await this.#fetchListing(dir, this.#path(dir, 'readdir'));
    this.#used(dir, listing);
    return listing;
  }

  /** The dir handle `fh`; offset 0 after an earlier read (rewinddir) takes a new snapshot. */
  async #dirHandleAt(fh: number, offset: number, syscall: string): Promise<DirHandle> {
    const handle = this.#handles.dir(fh, syscall);
    if (offset === 0 && handle.read) {
      const listing = await this.#listing(handle.node);
      handle.entries = listing.entries;
      handle.fetchedAt = listing.fetchedAt;
    }
    handle.read = true;
    return handle;
  }

  /** Entry `i` of a dir handle for plain readdir: 0 is ".", 1 is "..", then the snapshot. */
  #dotOrEntry(handle: DirHandle, i: number): { name: string; ino: number; mode: number } {
    const dir = handle.node;
    if (i === 0) return { name: '.', ino: dir.ino, mode: S_IFDIR };
    if (i === 1) return { name: '..', ino: dir.firstLink()?.parent.ino ?? ROOT_INO, mode: S_IFDIR };
    const { name, stat } = handle.entries[i - 2]!;
    return { name, ino: this.#table.peekIno(dir, name, stat), mode: stat.mode & S_IFMT };
  }

  /** Remote attributes → what the kernel sees: our inode number, mapped ids, umask, synthesised counts. */
  #toAttr(node: Node | undefined, stat: FileStat): Attr {
    const type = stat.mode & S_IFMT;
    const { uid, gid } = this.#ids.toLocal(stat);
    return {
      ino: node?.ino ?? 0,
      mode: type | (stat.mode & 0o7777 & ~this.#opts.umask),
      // Without the remote's count, hard links made through this mount are still counted.
      nlink: stat.nlink ?? (type === S_IFDIR ? 2 : Math.max(1, node?.links.size ?? 1)),
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

  /** Some remotes answer a rename onto a non-empty directory vaguely (SFTP FAILURE, EPERM, EEXIST). */
  async #refineRenameError(error: unknown, from: string, to: string, noReplace: boolean): Promise<unknown> {
    if (!isFsError(error) || PRECISE_RENAME_ERRORS.has(error.code) || (noReplace && error.code === 'EEXIST')) return error;
    try {
      const [source, target] = await Promise.all([
        this.#caller.call('lstat', from, () => this.#client.lstat(from)),
        this.#caller.call('lstat', to, () => this.#client.lstat(to)),
      ]);
      if ((source.mode & S_IFMT) === S_IFDIR && (target.mode & S_IFMT) === S_IFDIR && (await this.#nonEmpty(to))) {
        return new FsError('ENOTEMPTY', 'rename', to, { cause: error });
      }
    } catch {
      // The probe failing says nothing more than the original error.
    }
    return error;
  }

  async #nonEmpty(path: string): Promise<boolean> {
    try {
      const entries = await this.#caller.call('readdir', path, () => this.#client.readdir(path));
      return entries.length > 0;
    } catch {
      return false;
    }
  }
}

function nowTimespec(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

/** Attributes for "." / ".." or a negative entry when nothing better is known. */
function placeholderDirStat(): FileStat {
  const zero = { sec: 0, nsec: 0 };
  return { mode: S_IFDIR | 0o755, size: 0, uid: 0, gid: 0, atime: zero, mtime: zero };
}
