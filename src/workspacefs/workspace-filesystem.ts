import { readFile } from 'node:fs/promises';
import {
  RENAME_EXCHANGE, RENAME_NOREPLACE,
  type AttrReply, type ConnectionInfo, type CreateReply, type DirentOut, type DirentPlusOut,
  type Entry, type FuseNotifier, type FuseOperations, type OpenReply, type RequestContext, type SetattrIn,
} from '../fuse/operations.ts';
import {
  S_IFBLK, S_IFCHR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, canMknod, type FileClient, type FileStat, type OpenFlags, type StatFs, type WatchEventKind,
} from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { AttrSource } from './attr-source.ts';
import { permits, W_OK, type Attributes } from './attributes.ts';
import type { ContentPrefetch } from './content-prefetch.ts';
import { pathOrEnoent, type VfsCore } from './core.ts';
import type { DirReader } from './dir-reader.ts';
import type { Entries } from './entries.ts';
import type { IdMap } from './id-map.ts';
import { joinPath, type Node } from './inode-table.ts';
import type { KernelNotices } from './kernel-notices.ts';
import type { ListingPrefetch } from './listing-prefetch.ts';
import type { Listings } from './listings.ts';
import type { Logger } from '../remote/log.ts';
import { NewOwners } from './new-owner.ts';
import { checkName, createMode, NAME_MAX } from './names.ts';
import type { OpenFiles } from './open-files.ts';
import type { ReadOpens } from './read-opens.ts';
import { O_EXCL, O_TRUNC, decodeAccess, type Access } from './open-flags.ts';
import { resolveOptions, type ResolvedWorkspaceOptions, type WorkspaceOptions } from './options.ts';
import { assembleParts } from './parts.ts';
import { exactMode, openCreating } from './remote-create.ts';
import { sendSetattr, setattrAhead } from './remote-setattr.ts';
import { Counters, type WorkspaceStats } from './stats.ts';

/**
 * The workspace VFS: a low-level FUSE filesystem over a {@link FileClient}, as a facade with one
 * short method per FUSE op (guard → collaborator → bookkeeping). The parts, one job each:
 * {@link InodeTable} (our numbers, {parent, name} links, lookup counts), {@link Attributes} (the
 * only writer of cached attributes), {@link AttrSource} (where fresh ones come from),
 * {@link Listings} (folder listings, negative lookups), {@link Entries} (bookkeeping after a
 * remote answer), {@link ListingPrefetch} and {@link ContentPrefetch} (read-ahead of listings and
 * small files), {@link ReadOpens} (read-only opens in the fewest round trips), {@link DirReader}
 * (open folders), {@link HandleTable} and {@link OpenFile} (open files with write gathering and
 * read-ahead), {@link KernelNotices} and {@link IdMap}.
 *
 * Requests run concurrently; ordering is held only per open file. Every remote call is bounded by
 * `opTimeoutMs` and every remote failure leaves as an FsError. Kernel notices queued during an op
 * are sent after it has settled.
 */
export class WorkspaceFilesystem implements FuseOperations {
  readonly #core: VfsCore;
  readonly #opts: ResolvedWorkspaceOptions;
  readonly #log: Logger;
  readonly #notices: KernelNotices;
  readonly #ids: IdMap;
  readonly #attrs: Attributes;
  readonly #attrSource: AttrSource;
  readonly #listings: Listings;
  readonly #entries: Entries;
  readonly #listingPrefetch: ListingPrefetch;
  readonly #contentPrefetch: ContentPrefetch;
  readonly #readOpens: ReadOpens;
  readonly #dirs: DirReader;
  readonly #files: OpenFiles;
  readonly #owners: NewOwners;
  /** Set once the log has said why this mount cannot make special files. */
  #saidNoSpecialFiles = false;
  /** Written only by `init`: the kernel caches writes, reads through write-only handles and applies O_APPEND itself. */
  #writeback = false;
  #connection: ConnectionInfo | undefined;

  /** A VFS over `client` showing the remote folder `options.root`. */
  constructor(client: FileClient, options: WorkspaceOptions) {
    this.#opts = resolveOptions(options);
    this.#log = this.#opts.log;
    ({
      core: this.#core, notices: this.#notices, ids: this.#ids, attrs: this.#attrs, attrSource: this.#attrSource,
      listings: this.#listings, entries: this.#entries, listingPrefetch: this.#listingPrefetch,
      contentPrefetch: this.#contentPrefetch, readOpens: this.#readOpens, dirs: this.#dirs, files: this.#files,
    } = assembleParts(client, this.#opts));
    this.#owners = new NewOwners(this.#core, this.#ids, this.#log, this.#opts.owner);
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
    const { counters, table, handles } = this.#core;
    const kept = this.#listings.size();
    return counters.snapshot({
      inodes: table.size, openFiles: handles.fileCount, openDirs: handles.dirCount, listings: kept.listings, listingEntries: kept.entries,
    });
  }

  /** Resolves once no listing or small file is being read ahead (tests wait on it instead of sleeping). */
  async readAheadIdle(): Promise<void> {
    await Promise.all([this.#listingPrefetch.idle(), this.#contentPrefetch.idle()]);
  }

  /**
   * Drops what the caches know about remote `path` and tells the kernel (for remote change
   * events, e.g. the agent's watch). Paths outside the root are ignored.
   */
  invalidate(path: string, kinds?: readonly WatchEventKind[]): void {
    this.#entries.remoteChanged(path, kinds);
    this.#notices.sendSoon();
  }

  /**
   * Drops the cached attributes of remote `path` and tells the kernel, keeping its content: a
   * change shown before the remote had it (the write-back journal) is there now, with the remote's
   * own ctime and inode data; `stat`, when given, is what the remote shows now. Paths outside
   * the root are ignored.
   */
  attributesChanged(path: string, stat?: FileStat): void {
    this.#entries.attributesChanged(path, stat);
    this.#notices.sendSoon();
  }

  /**
   * Drops every cached attribute, symlink target, negative lookup and folder listing, and tells
   * the kernel to drop its attribute, page and name caches for every inode we know
   * (`rmount cache flush`). Open handles and their pending writes are left alone.
   */
  flushCaches(): void {
    this.#entries.forgetAll();
    this.#core.watch.restart();
    this.#notices.sendSoon();
  }

  /**
   * The remote's watch reports every change under the root from now on, for as long as `live`
   * says: the caches keep what they read past their lifetimes, and the kernel keeps its pages
   * across opens of an unchanged file. Opens and names missing from kept listings still ask
   * (close-to-open) until {@link runsBarriers}. A rescan event must come as `flushCaches()`.
   */
  watched(live: () => boolean): void {
    this.#core.watch.attach(live);
  }

  /**
   * Without a live watch, a name missing from a listing within its lifetime is missing (no `-o
   * cto`): see CacheWatch.trustsMissing.
   */
  trustLifetimes(): void {
    this.#core.watch.trustLifetimes();
  }

  /**
   * A remote command the mount ran (rmount exec, a path stub) has ended: without a live watch,
   * nothing cached here from before it answers any more (CacheWatch.commandEnded), and where the
   * mount has no watch at all, what the kernel holds from before it is queued to be dropped: send
   * it with {@link kernelSettled} before the command's end is reported.
   */
  remoteCommandEnded(): void {
    this.#core.watch.commandEnded();
    this.#entries.commandEnded();
  }

  /** Resolves once the kernel has dropped what the changes reported so far made stale (bounded). */
  kernelSettled(): Promise<void> {
    return this.#notices.flush();
  }

  /**
   * The mount waits for the watch's barrier after each remote command it runs (rmount exec, path
   * stubs) before it reports the command ended: opens and names missing from kept listings are
   * trusted to the watch from now on (CacheWatch.trusts).
   */
  runsBarriers(): void {
    this.#core.watch.runsBarriers();
  }

  /** Settles and closes every open file (unmount). Write errors are logged. */
  async close(): Promise<void> {
    await this.#files.closeAll();
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
        const target = name === '.' ? dir : this.#entries.parentOf(dir);
        return this.#entries.ref(target, await this.#attrSource.get(target));
      }
      checkName(name, 'lookup');
      const child = this.#core.table.child(dir, name);
      if (child !== undefined && this.#core.handles.filesOf(child).some(f => f.dirty)) await this.#core.handles.settle(child);
      if (child !== undefined && this.#attrs.usable(child)) {
        this.#core.counters.cache.entry.hits++;
        return this.#entries.ref(child, child.attr!);
      }
      const found = await this.#listings.find(dir, name, 'lookup');
      if (found === undefined) return this.#entries.negative('lookup', dir, name);
      return this.#entries.resolve(dir, name, found.stat, found.fetchedAt);
    });
  }

  /** Drops `nlookup` kernel references to `ino`. */
  forget(ino: number, nlookup: number): void {
    Counters.bump(this.#core.counters.ops, 'forget');
    this.#core.table.forget(ino, nlookup);
  }

  /**
   * Attributes of `ino`, from the cache while usable: they count the writes gathered here
   * (Attributes.wrote). Else buffered writes are settled first, so the remote's include them.
   */
  getattr(ino: number, _fh: number | undefined, _ctx: RequestContext): Promise<AttrReply> {
    return this.#op('getattr', async () => {
      const node = this.#node(ino, 'getattr');
      if (!this.#attrs.usable(node)) await this.#core.handles.settle(node);
      return this.#attrReply(node);
    });
  }

  /**
   * chmod/chown/utimens/truncate. Only the fields that change are sent (UTIME_OMIT stays absent);
   * with `fh` the open handle is used (works after unlink); a symlink is changed itself, never its target.
   */
  setattr(ino: number, changes: SetattrIn, fh: number | undefined, ctx: RequestContext): Promise<AttrReply> {
    return this.#op('setattr', async () => {
      this.#writable('setattr');
      const node = this.#node(ino, 'setattr');
      const attrs = this.#ids.toRemoteSetAttr(changes);
      const { handles } = this.#core;
      const file = fh === undefined ? undefined : handles.findFile(fh);
      // ftruncate, fchmod, futimens: sent right behind the file's writes where they may be
      // (see Handles.sendAhead), with the attributes asked for right behind, so one round trip.
      const ahead = file !== undefined && file.node === node && handles.sendAhead(file);
      if (!ahead) await handles.settle(node);
      if (attrs.mode !== undefined && (attrs.mode & 0o2000) !== 0 && ctx.uid !== 0) {
        const { gid } = this.#attrs.toAttr(node, await this.#attrSource.get(node));
        if (!(await inGroup(ctx, gid))) attrs.mode &= ~0o2000;
      }
      if (Object.keys(attrs).length === 0) return this.#attrReply(node);
      if (attrs.size !== undefined && node.isDir) throw new FsError('EISDIR', 'setattr');
      if (ahead) {
        await setattrAhead(this.#core, this.#entries, this.#attrs, file, attrs);
        return this.#attrReply(node);
      }
      await sendSetattr(this.#core, node, attrs, fh);
      this.#entries.changed(node, attrs.size !== undefined);
      return this.#attrReply(node);
    });
  }

  /** The target of symlink `ino`, cached like attributes. */
  readlink(ino: number, _ctx: RequestContext): Promise<string> {
    return this.#op('readlink', async () => {
      const node = this.#node(ino, 'readlink');
      if (node.type !== S_IFLNK) throw new FsError('EINVAL', 'readlink');
      return this.#attrSource.linkTarget(node);
    });
  }

  /**
   * A regular file (as an empty exclusive create), or a FIFO, socket file or device node where the
   * FileClient can make them (the agent, a local folder). A socket file only names a socket: the
   * process that binds it listens here, on this machine, and connections through the mount reach
   * it, not a process on the remote. Plain SFTP has no request for special files: EPERM, said once in the log.
   */
  mknod(parent: number, name: string, mode: number, rdev: number, ctx: RequestContext): Promise<Entry> {
    return this.#op('mknod', async () => {
      const type = mode & S_IFMT;
      const special = type === S_IFIFO || type === S_IFSOCK || type === S_IFCHR || type === S_IFBLK;
      if (!special && type !== S_IFREG && type !== 0) throw new FsError('EINVAL', 'mknod');
      const { dir, path } = this.#newName(parent, name, 'mknod');
      const want = createMode(mode, ctx);
      const { caller, client } = this.#core;
      if (special) {
        if (!canMknod(client)) {
          if (!this.#saidNoSpecialFiles) {
            this.#saidNoSpecialFiles = true;
            this.#log.info('FIFOs, sockets and device nodes cannot be made here: plain SFTP has no request for them (the agent has: -o agent=yes)');
          }
          throw new FsError('EPERM', 'mknod', path);
        }
        await caller.call('mknod', path, () => client.mknod(path, type | want, type === S_IFCHR || type === S_IFBLK ? rdev : 0));
      } else {
        const handle = await caller.call('open', path, () => client.open(path, { read: false, write: true, create: true, exclusive: true }, want));
        await caller.call('handle.close', path, () => handle.close());
      }
      return this.#made(dir, name, path, ctx, want);
    });
  }

  /** Creates a directory; mode bits are masked by the caller's umask. */
  mkdir(parent: number, name: string, mode: number, ctx: RequestContext): Promise<Entry> {
    return this.#op('mkdir', async () => {
      const { dir, path } = this.#newName(parent, name, 'mkdir');
      const want = createMode(mode, ctx);
      await this.#core.caller.call('mkdir', path, () => this.#core.client.mkdir(path, want));
      return this.#made(dir, name, path, ctx, want);
    });
  }

  /** Removes a name. An open file stays usable through its remote handle; nothing is left behind. */
  unlink(parent: number, name: string, _ctx: RequestContext): Promise<void> {
    return this.#op('unlink', async () => {
      const { dir, path } = this.#newName(parent, name, 'unlink');
      await this.#core.caller.call('unlink', path, () => this.#core.client.unlink(path));
      this.#entries.removed(dir, name);
    });
  }

  /** Removes an empty directory (the FileClient answers ENOTEMPTY for a non-empty one). */
  rmdir(parent: number, name: string, _ctx: RequestContext): Promise<void> {
    return this.#op('rmdir', async () => {
      const { dir, path } = this.#newName(parent, name, 'rmdir');
      await this.#core.caller.call('rmdir', path, () => this.#core.client.rmdir(path));
      this.#entries.removed(dir, name, path);
    });
  }

  /** Creates symlink `name` → `target` (stored as given). */
  symlink(target: string, parent: number, name: string, ctx: RequestContext): Promise<Entry> {
    return this.#op('symlink', async () => {
      const { dir, path } = this.#newName(parent, name, 'symlink');
      await this.#core.caller.call('symlink', path, () => this.#core.client.symlink(target, path));
      return this.#made(dir, name, path, ctx);
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
      checkName(name, 'rename');
      checkName(newName, 'rename');
      if ((flags & RENAME_EXCHANGE) !== 0 || (flags & ~RENAME_NOREPLACE) !== 0) throw new FsError('EINVAL', 'rename');
      const noReplace = (flags & RENAME_NOREPLACE) !== 0;
      const fromDir = this.#dir(parent, 'rename');
      const toDir = this.#dir(newParent, 'rename');
      const from = joinPath(this.#path(fromDir, 'rename'), name);
      const to = joinPath(this.#path(toDir, 'rename'), newName);
      const { caller, client, table } = this.#core;
      // What we last saw of the source lets a write-back client answer at once.
      const seen = table.child(fromDir, name)?.attr;
      const there = table.child(toDir, newName);
      const options = {
        ...(noReplace ? { noReplace: true } : {}),
        ...(seen === undefined ? {} : { known: seen }),
        ...(there === undefined ? { knownTarget: null } : there.attr === undefined ? {} : { knownTarget: there.attr }),
      };
      await caller.call('rename', from, () => Object.keys(options).length === 0 ? client.rename(from, to) : client.rename(from, to, options));
      this.#entries.renamed(fromDir, name, toDir, newName, from, to);
    });
  }

  /** Makes a hard link: the new name shows the same inode number. */
  link(ino: number, newParent: number, newName: string, _ctx: RequestContext): Promise<Entry> {
    return this.#op('link', async () => {
      this.#writable('link');
      checkName(newName, 'link');
      const node = this.#node(ino, 'link');
      const dir = this.#dir(newParent, 'link');
      const existing = this.#path(node, 'link');
      const path = joinPath(this.#path(dir, 'link'), newName);
      const { caller, client } = this.#core;
      await caller.call('link', path, () => client.link(existing, path));
      this.#entries.linked(node, dir, newName);
      const stat = await caller.call('lstat', path, () => client.lstat(path));
      this.#attrs.store(node, stat);
      return this.#entries.ref(node, stat);
    });
  }

  /** Opens a regular file (flags: open(2) flags; O_TRUNC and O_APPEND honoured). */
  open(ino: number, flags: number, _ctx: RequestContext): Promise<OpenReply> {
    return this.#op('open', async () => {
      const node = this.#node(ino, 'open');
      if (node.isDir) throw new FsError('EISDIR', 'open');
      const access = this.#access(flags);
      const truncate = (flags & O_TRUNC) !== 0;
      if (this.#opts.readOnly && (access.write || truncate)) throw new FsError('EROFS', 'open');
      const path = this.#path(node, 'open');
      const { handles, watch } = this.#core;
      // The watch tells the kernel of every change as it comes, and an open drops its pages when
      // the file changed: they stay right across opens.
      const keepCache = this.#opts.kernelCache || watch.live;
      if (!access.write && !truncate && node.type === S_IFREG) {
        const { remote, data } = await this.#readOpens.open(node, path, access);
        return { fh: this.#files.add(node, remote, access, data), keepCache };
      }
      if (truncate) await handles.settle(node);
      // Close-to-open: the attributes are asked again at open.
      const revalidate = !truncate && node.type === S_IFREG && !handles.hasWriter(node);
      const remote = await this.#readOpens.openRevalidating(node, path, { ...access, ...(truncate ? { truncate: true } : {}) }, revalidate);
      if (truncate) this.#entries.truncated(node);
      return { fh: this.#files.add(node, remote, access), keepCache };
    });
  }

  /** Creates (or with O_EXCL, exclusively creates) and opens a regular file. */
  create(parent: number, name: string, mode: number, flags: number, ctx: RequestContext): Promise<CreateReply> {
    return this.#op('create', async () => {
      const { dir, path } = this.#newName(parent, name, 'create');
      const access = this.#access(flags);
      const openFlags: OpenFlags = { ...access, create: true };
      if ((flags & O_EXCL) !== 0) openFlags.exclusive = true;
      if ((flags & O_TRUNC) !== 0) openFlags.truncate = true;
      const existing = this.#core.table.child(dir, name);
      if (existing !== undefined && openFlags.truncate === true) await this.#core.handles.settle(existing);
      const created = await openCreating(this.#core, path, openFlags, createMode(mode, ctx));
      const { remote } = created;
      let { stat } = created;
      if (created.created) stat = await this.#owned(remote, () => this.#owners.settle(path, stat, ctx, dir.attr?.mode ?? 0, remote));
      this.#entries.made(dir, name);
      const node = this.#entries.node(dir, name, stat);
      if (openFlags.truncate === true) this.#entries.truncated(node);
      this.#attrs.store(node, stat);
      return { entry: this.#entries.ref(node, stat), open: { fh: this.#files.add(node, remote, access) } };
    });
  }

  /** Reads through the handle's read-ahead window; writes on this file are settled first. */
  read(ino: number, fh: number, offset: number, size: number, _ctx: RequestContext): Promise<Uint8Array> {
    return this.#op('read', async () => {
      const file = this.#core.handles.file(fh, 'read');
      await this.#core.handles.settleForRead(file);
      const data = await file.read(size, offset);
      this.#core.counters.bytesRead += data.length;
      return data;
    });
  }

  /** Gathers the write; it reaches the remote in the background (errors surface on flush). */
  write(ino: number, fh: number, data: Buffer, offset: number, _ctx: RequestContext): Promise<number> {
    return this.#op('write', async () => {
      this.#writable('write');
      const { handles, counters } = this.#core;
      const file = handles.file(fh, 'write');
      if (!file.writable) throw new FsError('EBADF', 'write', file.path);
      for (const other of handles.filesOf(file.node)) if (other !== file) other.dropReadAhead();
      const n = await file.write(data, offset);
      counters.bytesWritten += n;
      this.#attrs.wrote(file.node, offset, n, file.append);
      this.#entries.parentsChanged(file.node);
      return n;
    });
  }

  /** close(2) of one descriptor: settles writes and reports a write failure. */
  flush(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('flush', () => this.#files.flush(fh));
  }

  /** Last close: settles writes, closes the remote handle, and lets the node go if unreferenced. */
  release(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('release', () => this.#files.release(fh));
  }

  /** Settles writes, then syncs; a successful no-op (logged once) when the remote cannot fsync. */
  fsync(ino: number, fh: number, _datasync: boolean, _ctx: RequestContext): Promise<void> {
    return this.#op('fsync', () => this.#files.fsync(fh));
  }

  /**
   * Opens a directory and snapshots its listing, so offsets stay consistent. While the watch keeps
   * the kernel's listings right, the kernel keeps the entries it read across opens: a warm walk
   * then reads no folder from us again.
   */
  opendir(ino: number, _flags: number, _ctx: RequestContext): Promise<OpenReply> {
    return this.#op('opendir', async () => {
      const fh = await this.#dirs.open(this.#dir(ino, 'opendir'));
      return this.#core.watch.trusted ? { fh, cacheDir: true, keepCache: true } : { fh };
    });
  }

  /** Entries from `offset` (a cookie from an earlier answer) that fit in `size` bytes. */
  readdir(ino: number, fh: number, offset: number, size: number, _ctx: RequestContext): Promise<DirentOut[]> {
    return this.#op('readdir', () => this.#dirs.plain(fh, offset, size));
  }

  /**
   * Like readdir, with each entry's attributes from the same listing (no round trip per entry).
   * Every entry but "." and ".." is a kernel reference.
   */
  readdirplus(ino: number, fh: number, offset: number, size: number, _ctx: RequestContext): Promise<DirentPlusOut[]> {
    return this.#op('readdirplus', () => this.#dirs.plus(fh, offset, size));
  }

  /** Closes a directory handle. */
  releasedir(ino: number, fh: number, _ctx: RequestContext): Promise<void> {
    return this.#op('releasedir', async () => this.#dirs.release(fh));
  }

  /** Waits for every change the write-back journal holds; without one, changes are already on the remote. */
  fsyncdir(_ino: number, _fh: number, _datasync: boolean, _ctx: RequestContext): Promise<void> {
    return this.#op('fsyncdir', async () => {
      const { client, caller } = this.#core;
      // Bounded like any remote call: a link that stays down answers EIO, the journal keeps the changes.
      if (client.flushAll === undefined) return;
      await caller.call('fsyncdir', undefined, () => client.flushAll!());
      // What landed told the kernel to drop attributes it showed before (their ctime): those
      // notices go out before the program learns the barrier passed and looks again.
      await new Promise(resolve => setImmediate(resolve));
    });
  }

  /** statvfs of the remote file system holding the root; namemax is at most 255. */
  statfs(_ino: number, _ctx: RequestContext): Promise<StatFs> {
    return this.#op('statfs', async () => {
      const root = this.#opts.root;
      const stat = await this.#core.caller.call('statfs', root, () => this.#core.client.statfs(root));
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
      const attr = this.#attrs.toAttr(node, await this.#attrSource.get(node));
      if (!permits(attr, mask, ctx)) throw new FsError('EACCES', 'access');
    });
  }

  /** Runs one op: counts it, makes sure the root owner is known, counts its failure, sends queued notices. */
  async #op<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const { counters } = this.#core;
    Counters.bump(counters.ops, name);
    try {
      if (this.#ids.needsRootOwner) await this.#ids.load(() => this.#attrSource.rootStat());
      // Inode numbers shown depend on the root's device: known before the first answer.
      if (this.#attrs.needsRoot) await this.#attrSource.rootStat();
      return await fn();
    } catch (error) {
      // A non-FsError is a bug: the FUSE edge answers it EIO and logs it, once.
      Counters.bump(counters.errors, isFsError(error) ? error.code : 'EIO');
      throw error;
    } finally {
      this.#notices.sendSoon();
    }
  }

  async #attrReply(node: Node): Promise<AttrReply> {
    const stat = await this.#attrSource.get(node);
    this.#entries.told(node);
    return { attr: this.#attrs.toAttr(node, stat), timeout: this.#core.outage.kernelTimeout(this.#opts.attrTimeoutMs) };
  }

  #node(ino: number, syscall: string): Node {
    const node = this.#core.table.get(ino);
    if (node === undefined) throw new FsError('ENOENT', syscall);
    return node;
  }

  #dir(ino: number, syscall: string): Node {
    const node = this.#node(ino, syscall);
    if (!node.isDir) throw new FsError('ENOTDIR', syscall);
    return node;
  }

  #path(node: Node, syscall: string): string {
    return pathOrEnoent(this.#core.table, node, syscall);
  }

  /** The guards of an op on `name` in folder `parent`: writable mount, a valid name, a folder with a path. */
  #newName(parent: number, name: string, syscall: string): { dir: Node; path: string } {
    this.#writable(syscall);
    checkName(name, syscall);
    const dir = this.#dir(parent, syscall);
    return { dir, path: joinPath(this.#path(dir, syscall), name) };
  }

  #writable(syscall: string): void {
    if (this.#opts.readOnly) throw new FsError('EROFS', syscall);
  }

  /** open(2) flags → remote access; under writeback caching a write-only open reads too and never appends. */
  #access(flags: number): Access {
    const access = decodeAccess(flags);
    if (this.#writeback && access.write) return { read: true, write: true, append: false };
    return access;
  }

  /** After mkdir/symlink/mknod: the new name's entry from one lstat (its mode made exact, its owner the caller's where asked). */
  async #made(dir: Node, name: string, path: string, ctx: RequestContext, want?: number): Promise<Entry> {
    this.#entries.made(dir, name);
    let stat = await this.#core.caller.call('lstat', path, () => this.#core.client.lstat(path));
    if (want !== undefined) stat = await exactMode(this.#core, stat, want, path);
    stat = await this.#owners.settle(path, stat, ctx, dir.attr?.mode ?? 0);
    return this.#entries.created(dir, name, stat);
  }

  /** Runs `fn` on a just-created open file; a failure closes the remote handle before it leaves. */
  async #owned(remote: { close(): Promise<void> }, fn: () => Promise<FileStat>): Promise<FileStat> {
    try {
      return await fn();
    } catch (error) {
      await remote.close().catch(() => undefined);
      throw error;
    }
  }

}

/** True when the caller of `ctx` is in group `gid`: its own group or a supplementary one (from /proc). */
async function inGroup(ctx: RequestContext, gid: number): Promise<boolean> {
  if (ctx.gid === gid) return true;
  try {
    const line = /^Groups:(.*)$/m.exec(await readFile(`/proc/${ctx.pid}/status`, 'latin1'));
    return line !== null && line[1]!.trim().split(/\s+/).map(Number).includes(gid);
  } catch {
    // The caller is gone: no group of its own counts.
    return false;
  }
}
