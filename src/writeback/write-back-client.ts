/**
 * The write-back layer: a FileClient over the real one that accepts changes locally, journals them
 * and sends them in the background (src/writeback/op-queue.ts), while every read, stat and listing
 * through it sees them at once (src/writeback/overlay-reads.ts).
 *
 * What is accepted locally: files made here or opened with O_TRUNC (their whole content is staged
 * on local disk), mkdir, symlink, unlink, renames (of what the remote holds too, a folder only to
 * a name known to be free), attribute changes (of what the remote holds, from the attributes the
 * caller knows), a hard link to a staged file, rmdir of a folder emptied through us. What goes
 * through at once, after the pending changes it touches: an existing file opened for writing in
 * place, a size change of a file not staged, other links and rmdirs, mknod, a folder renamed over
 * another. Barriers (fsync, `sync`) wait for exactly what they need.
 */
import {
  S_IFDIR, S_IFLNK, type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat,
  type OpenFlags, type RenameOptions, type SetAttr, type SetAttrOptions, type SmallFileRead, type StatFs, type Subtree,
  type SubtreeBounds, type WatchEvent, type WatchSubscription, canBatch, canReadFiles, canSubtree, isFileMode, isDirMode,
  nameTooLong,
} from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { Logger } from '../remote/log.ts';
import type { Journal } from './journal.ts';
import { BarrierFailed, OpQueue, type Entry } from './op-queue.ts';
import { KnownFolders } from './known-folders.ts';
import { MadeHere } from './made-here.ts';
import { Overlay, split, type Moved } from './overlay.ts';
import { OverlayReads } from './overlay-reads.ts';
import { PendingPaths } from './pending-paths.ts';
import { journalAttrs, nowSpec, opPaths, type StagedMeta } from './records.ts';
import { StagedFile, StagedHandle, type StagedOwner } from './staged-file.ts';
import { ThroughHandle } from './through-handle.ts';
import { WriteBackState } from './write-back-state.ts';

/** How a write-back client is set up. */
export interface WriteBackOptions {
  journal: Journal;
  log: Logger;
  /** Writers wait while more unsent bytes than this are journaled. */
  maxBytes: number;
  /** Owner of what is made here until the remote says otherwise (the login's, seen on the mount root). */
  owner: { uid: number; gid: number };
  /** A put of a file held open for writing goes after this long anyway (a log kept open). */
  openPutDelayMs?: number;
  /** Sends on their way at once. */
  maxRunning?: number;
  /** True once the remote is gone for good (a removed container): changes are refused, not journaled. */
  linkGone?: () => boolean;
  /** How long a folder made here is taken as known after its mkdir reached the remote (see KnownFolders). */
  knownFolderGraceMs?: number;
}

export class WriteBackClient extends WriteBackState implements FileClient, StagedOwner {
  readonly capabilities: FileCapabilities;
  readonly closed?: Promise<void>;
  readonly #inner: FileClient;
  readonly #overlay = new Overlay();
  /** Paths with a handle writing through in place, and how many. */
  readonly #through = new Map<string, number>();
  readonly #reads: OverlayReads;
  /**
   * Changes answered from attributes we made up (a chmod, a rename of what the remote holds):
   * once on the remote, its own (its ctime) are what the caches above must show.
   */
  readonly #shown = new Set<Entry>();
  #onLanded: (path: string, stat?: FileStat) => void = () => {};
  readonly #openPutDelayMs: number;
  readonly #gone: () => boolean;
  readonly #made = new MadeHere();
  readonly #folders: KnownFolders;

  constructor(inner: FileClient, options: WriteBackOptions) {
    // A batch carries up to 256 changes; more in flight would hold more file content in memory.
    super(options.journal, options.log, options.maxBytes, options.owner, inner, options.maxRunning ?? (canBatch(inner) ? 256 : 64));
    this.#inner = inner;
    // What it sends in one request is its own business: it offers no putFile or batch itself.
    this.capabilities = { ...inner.capabilities, putFile: false, batch: false, subtree: canSubtree(inner), readFiles: canReadFiles(inner) };
    if (inner.closed !== undefined) this.closed = inner.closed;
    this.#openPutDelayMs = options.openPutDelayMs ?? 2000;
    this.#gone = options.linkGone ?? (() => false);
    this.#folders = new KnownFolders(options.knownFolderGraceMs ?? 2000);
    this.#reads = new OverlayReads(inner, this.#overlay, this.#made, this.#folders, path => this.settledPath(path),
      async entries => {
        // Not until they land: a rename the link lost waits in the queue, and the read must not.
        while (entries.some(e => e.state === 'running')) await this.queue.changed();
      });
    if (canSubtree(inner)) this.subtree = (path, bounds) => this.#reads.subtree(path, bounds, () => this.#pending());
    if (canReadFiles(inner)) this.readFiles = (paths, maxBytes) => this.#reads.readFiles(paths, maxBytes, () => this.#pending());
    if (inner.linkUp !== undefined) this.linkUp = () => inner.linkUp!();
    if (inner.watch !== undefined) this.watch = (root, listener) => inner.watch!(root, listener);
    if (inner.mknod !== undefined) {
      this.mknod = async (path, mode, rdev) => {
        await this.#settlePaths([path]);
        await inner.mknod!(path, mode, rdev);
        this.#overlay.delete(path);
        this.#addedName(path);
      };
    }
    if (inner.copyData !== undefined) {
      this.copyData = async (from, fromOffset, length, to, toOffset) => {
        // Only between files written in place: a staged file's bytes are not on the remote yet.
        if (from instanceof StagedHandle) throw new FsError('ENOTSUP', 'copyData', from.path);
        if (to instanceof StagedHandle) throw new FsError('ENOTSUP', 'copyData', to.path);
        const a = from instanceof ThroughHandle ? from.inner : from;
        const b = to instanceof ThroughHandle ? to.inner : to;
        await inner.copyData!(a, fromOffset, length, b, toOffset);
      };
    }
  }

  linkUp?: () => boolean;
  subtree?: (path: string, bounds: SubtreeBounds) => Promise<Subtree>;
  readFiles?: (paths: readonly string[], maxBytes: number) => Promise<SmallFileRead[]>;
  watch?: (root: string, listener: (events: WatchEvent[]) => void) => Promise<WatchSubscription>;
  mknod?: (path: string, mode: number, rdev: number) => Promise<void>;
  copyData?: (from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number) => Promise<void>;

  // ---- reads: the overlay first, then the remote (overlay-reads.ts) ----

  lstat(path: string): Promise<FileStat> {
    return this.#reads.lstat(path);
  }

  stat(path: string): Promise<FileStat> {
    return this.#reads.stat(path);
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.#reads.readdir(path);
  }

  readlink(path: string): Promise<string> {
    return this.#reads.readlink(path);
  }

  statfs(path: string): Promise<StatFs> {
    return this.#inner.statfs(path);
  }

  realpath(path: string): Promise<string> {
    return this.#inner.realpath(path);
  }

  // ---- open ----

  async open(path: string, flags: OpenFlags, mode = 0o666, depth = 0): Promise<FileHandle> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'symlink') return this.open(this.#reads.target(path, entry.target, depth, 'open'), flags, mode, depth + 1);
    if (entry?.type === 'dir') throw new FsError('EISDIR', 'open', path);
    if (entry?.type === 'file') {
      if (flags.create === true && flags.exclusive === true) throw new FsError('EEXIST', 'open', path);
      const handle = new StagedHandle(entry.file, this, { write: flags.write, append: flags.append === true });
      if (flags.truncate === true && flags.write) await handle.setattr({ size: 0 });
      return handle;
    }
    const writing = flags.write || flags.truncate === true;
    if (writing) this.#mustBeReachable('open', path);
    if (entry?.type === 'remote') {
      if (flags.create === true && flags.exclusive === true) throw new FsError('EEXIST', 'open', path);
      if (!writing) return this.#reads.located(path, at => this.#inner.open(at, flags, mode));
      // Its pending rename and attributes land first: what is written, and a put's baseline, start there.
      await this.#settlePaths([path]);
    }
    if (!writing) {
      if (entry?.type === 'gone') throw new FsError('ENOENT', 'open', path);
      return this.#reads.located(path, at => this.#inner.open(at, flags, mode));
    }
    if (entry?.type === 'gone' || this.#reads.knownAbsent(path)) {
      if (flags.create !== true) throw new FsError('ENOENT', 'open', path);
      return this.#staged(path, flags, { mode, isNew: true });
    }
    if ((this.#through.get(path) ?? 0) === 0) {
      // The kernel creates only names it believes missing: trust it, and keep both if it was wrong.
      if (flags.create === true && flags.exclusive === true) return this.#staged(path, flags, { mode, isNew: true });
      if (flags.truncate === true || flags.create === true) {
        const now = await this.#reads.located(path, at => this.#inner.lstat(at)).catch(error => {
          if (isFsError(error, 'ENOENT')) return undefined;
          throw error;
        });
        if (now === undefined) {
          if (flags.create !== true) throw new FsError('ENOENT', 'open', path);
          return this.#staged(path, flags, { mode, isNew: true });
        }
        if (isDirMode(now.mode)) throw new FsError('EISDIR', 'open', path);
        if (flags.truncate === true && isFileMode(now.mode)) {
          return this.#staged(path, flags, { mode: now.mode & 0o7777, isNew: false, from: now });
        }
      }
    }
    await this.#settlePaths([path]);
    const inner = await this.#inner.open(path, flags, mode);
    this.#through.set(path, (this.#through.get(path) ?? 0) + 1);
    return new ThroughHandle(inner, () => {
      const n = (this.#through.get(path) ?? 1) - 1;
      if (n <= 0) this.#through.delete(path);
      else this.#through.set(path, n);
    });
  }

  // ---- namespace changes ----

  async mkdir(path: string, mode = 0o777): Promise<void> {
    this.#mustBeReachable('mkdir', path);
    this.#mustBeFree(path, 'mkdir');
    const now = this.fit(nowSpec());
    const stat: FileStat = { mode: S_IFDIR | (mode & 0o7777), size: 4096, uid: this.owner.uid, gid: this.owner.gid, atime: now, mtime: now, ctime: now, nlink: 2 };
    this.#overlay.set(path, { type: 'dir', stat, complete: true });
    this.#made.add(path);
    this.#addedName(path);
    this.#folders.made(path);
    this.enqueue({ kind: 'mkdir', path, mode: mode & 0o7777 });
  }

  async symlink(target: string, path: string): Promise<void> {
    this.#mustBeReachable('symlink', path);
    this.#mustBeFree(path, 'symlink');
    const now = this.fit(nowSpec());
    const stat: FileStat = { mode: S_IFLNK | 0o777, size: Buffer.byteLength(target), uid: this.owner.uid, gid: this.owner.gid, atime: now, mtime: now, ctime: now, nlink: 1 };
    this.#overlay.set(path, { type: 'symlink', target, stat });
    this.#made.add(path);
    this.#addedName(path);
    this.enqueue({ kind: 'symlink', target, path });
  }

  async unlink(path: string): Promise<void> {
    this.#mustBeReachable('unlink', path);
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'unlink', path);
    if (entry?.type === 'dir') throw new FsError('EISDIR', 'unlink', path);
    this.#made.delete(path);
    this.#removedName(path);
    if (this.#withdraw(path)) return;
    this.enqueue({ kind: 'unlink', path });
    this.#overlay.set(path, { type: 'gone' });
  }

  async rmdir(path: string): Promise<void> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'rmdir', path);
    if (entry?.type === 'file' || entry?.type === 'symlink' || entry?.type === 'remote') throw new FsError('ENOTDIR', 'rmdir', path);
    if (this.#overlay.hasPresentChild(path)) throw new FsError('ENOTEMPTY', 'rmdir', path);
    this.#made.delete(path);
    if (entry?.type === 'dir' && this.#withdraw(path)) {
      this.#removedName(path);
      return;
    }
    if (this.#folders.empty(path)) {
      this.#mustBeReachable('rmdir', path);
      // Every name it held was removed through us since it was listed or made (rm -r): the
      // remote's rmdir follows their unlinks. A name made there meanwhile makes it refused, and said.
      this.#folders.forget(path);
      this.#removedName(path);
      this.enqueue({ kind: 'rmdir', path });
      this.#overlay.set(path, { type: 'gone' });
      return;
    }
    await this.#settlePaths([path]);
    await this.#inner.rmdir(path);
    this.#folders.forget(path);
    this.#removedName(path);
    for (const p of this.#overlay.under(path)) this.#forget(p);
  }

  async rename(from: string, to: string, options?: RenameOptions): Promise<void> {
    this.#mustBeReachable('rename', from);
    this.#mustBeReachable('rename', to);
    const source = this.#overlay.get(from);
    if (source?.type === 'gone') throw new FsError('ENOENT', 'rename', from);
    if (from === to) return;
    const target = this.#overlay.get(to);
    if (source?.type === 'file') {
      if (target?.type === 'dir') throw new FsError('EISDIR', 'rename', to);
      // Two names of one file: rename(2) does nothing.
      if (target?.type === 'file' && target.file === source.file) return;
      if (options?.noReplace === true && ((target !== undefined && target.type !== 'gone') || (target === undefined && await this.#reads.remoteHas(to)))) {
        throw new FsError('EEXIST', 'rename', to);
      }
      if (target !== undefined && target.type !== 'gone') this.#withdraw(to);
      const file = source.file;
      this.enqueue({ kind: 'rename', from, to });
      this.#overlay.set(from, { type: 'gone' });
      this.#overlay.set(to, { type: 'file', file });
      file.moved(from, to);
      this.#made.delete(to);
      this.#made.move(from, to);
      this.#removedName(from);
      this.#addedName(to);
      return;
    }
    // What the remote holds, to a name that is free or, for anything but a folder, not a folder
    // (the kernel checked the types it knows; a folder over a folder needs the remote to know it
    // is empty): journaled, and read where the remote has it until the rename lands.
    const was = source?.type === 'remote' || source?.type === 'dir' ? source.stat : source === undefined ? options?.known : undefined;
    const folder = was !== undefined && isDirMode(was.mode);
    const free = target === undefined ? options?.knownTarget === null || this.#reads.knownAbsent(to) : target.type === 'gone';
    if (was !== undefined && options?.noReplace !== true && target?.type !== 'dir' && this.#free(from) && this.#free(to)
      && (!folder || (free && !this.#writingBelow(from)))) {
      if (target !== undefined && target.type !== 'gone') this.#withdraw(to);
      const own = source?.type === 'remote' || source?.type === 'dir' ? source.moved : undefined;
      const origin = own?.origin ?? this.#reads.remotePath(from);
      const move = this.enqueue({ kind: 'rename', from, to });
      this.#shown.add(move);
      const moved: Moved = { origin, moves: [...this.#reads.movesOf(from), move] };
      if (folder) this.#overlay.rekey(from, to, move);
      this.#overlay.set(from, folder ? { type: 'gone', dir: true } : { type: 'gone' });
      const stat = { ...was, ctime: nowSpec() };
      this.#overlay.set(to, folder ? { type: 'dir', stat, complete: source?.type === 'dir' && source.complete, moved } : { type: 'remote', stat, moved });
      this.#made.delete(to);
      this.#made.move(from, to);
      if (folder) this.#folders.forget(from);
      this.#removedName(from);
      this.#addedName(to);
      return;
    }
    await this.#settlePaths([from, to]);
    await this.#inner.rename(from, to, options?.noReplace === true ? { noReplace: true } : undefined);
    if (target?.type === 'file') target.file.dropName(to);
    this.#overlay.delete(to);
    this.#overlay.rekey(from, to);
    this.#made.delete(to);
    this.#made.move(from, to);
    this.#folders.forget(from);
    this.#removedName(from);
    this.#addedName(to);
  }

  async link(existing: string, newPath: string): Promise<void> {
    const entry = this.#overlay.get(existing);
    if (entry?.type === 'file') {
      // A new name for a staged file (git's link-then-unlink of an object): journaled; the link
      // follows the put on the remote, and a name removed meanwhile after it.
      this.#mustBeReachable('link', newPath);
      this.#mustBeFree(newPath, 'link');
      const file = entry.file;
      this.enqueue({ kind: 'link', existing, path: newPath });
      this.#overlay.set(newPath, { type: 'file', file });
      file.links.add(newPath);
      if (this.#made.has(existing)) this.#made.add(newPath);
      this.#addedName(newPath);
      return;
    }
    await this.#settlePaths([existing, newPath]);
    await this.#inner.link(existing, newPath);
    this.#overlay.delete(newPath);
    // One file, one number: a new name of a file made here shows the number its first one does.
    if (this.#made.has(existing)) this.#made.add(newPath);
    this.#addedName(newPath);
  }

  async setattr(path: string, attrs: SetAttr, options?: SetAttrOptions, depth = 0): Promise<void> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'setattr', path);
    if (entry?.type === 'symlink' && options?.noFollow !== true) return this.setattr(this.#reads.target(path, entry.target, depth, 'setattr'), attrs, options, depth + 1);
    if (entry?.type === 'file') {
      const grew = entry.file.setattr(attrs);
      // A put still waiting reads the new attributes when it goes; a replay reads them here.
      if (entry.file.queuedPut !== undefined) this.journalMeta(entry.file);
      this.modified(entry.file, grew, attrs.size === undefined ? attrs : undefined);
      return;
    }
    const noFollow = options?.noFollow === true ? { noFollow: true } : {};
    if (entry?.type === 'dir' || entry?.type === 'symlink' || entry?.type === 'remote') {
      if (entry.type === 'remote' && isLinkMode(entry.stat.mode) && options?.noFollow !== true) {
        await this.#settlePaths([path]);
        return this.#inner.setattr(path, attrs, options);
      }
      this.#mustBeReachable('setattr', path);
      const attrsNow = this.#fitted(journalAttrs(attrs, nowSpec()));
      entry.stat = applyAttrs(entry.stat, attrsNow);
      this.#shown.add(this.enqueue({ kind: 'setattr', path, attrs: attrsNow, ...noFollow }));
      return;
    }
    // Something the remote holds, whose attributes the caller knows: chmod, chown and touch are
    // answered from them at once. A size change needs the content and goes through.
    const known = options?.known;
    if (entry === undefined && known !== undefined && attrs.size === undefined && (!isLinkMode(known.mode) || options?.noFollow === true) && this.#free(path)) {
      this.#mustBeReachable('setattr', path);
      const attrsNow = this.#fitted(journalAttrs(attrs, nowSpec()));
      const stat = applyAttrs(known, attrsNow);
      this.#overlay.set(path, isDirMode(known.mode) ? { type: 'dir', stat, complete: false } : { type: 'remote', stat });
      this.#shown.add(this.enqueue({ kind: 'setattr', path, attrs: attrsNow, ...noFollow }));
      return;
    }
    await this.#settlePaths([path]);
    await this.#inner.setattr(path, attrs, options === undefined ? undefined : noFollowOnly(options));
  }

  // ---- StagedOwner: what staged files ask ----

  /** A staged file changed: a put follows, or for attributes alone after a put went, a setattr. */
  modified(file: StagedFile, grewBy: number, attrsOnly?: SetAttr): void {
    if (file.path === undefined) return;
    const queued = file.queuedPut;
    if (queued !== undefined) {
      this.addBytes(queued, grewBy);
      return;
    }
    if (attrsOnly !== undefined && file.remoteHasIt) {
      this.#shown.add(this.enqueue({ kind: 'setattr', path: file.path, attrs: this.#fitted(journalAttrs(attrsOnly, nowSpec())) }));
      return;
    }
    this.queuePut(file, file.writers === 0);
  }

  async settle(file: StagedFile, sync: boolean): Promise<void> {
    const path = file.path;
    if (path === undefined) return;
    if (sync && this.capabilities.fsync) {
      if (file.queuedPut !== undefined) file.syncWanted = true;
      else if (file.remoteHasIt) {
        file.syncWanted = true;
        this.queuePut(file, true);
      }
    }
    this.journalMeta(file);
    await this.#settlePaths(file.names());
    if (file.error !== undefined) throw file.error;
  }

  released(file: StagedFile, writable: boolean): void {
    file.park();
    if (writable) {
      this.journalMeta(file);
      if (file.writers === 0 && file.queuedPut !== undefined) this.queue.ready(file.queuedPut);
    }
    this.#maybeDrop(file);
  }

  // ---- hooks of WriteBackState ----

  protected override barrierStarted(): void {
    this.#folders.forgetAll();
  }

  protected override folderOnRemote(path: string): void {
    // The remote may get names in it we do not know of: stop answering for it at once, even while
    // the entry itself waits for reads in flight or for later changes (its mtime).
    const entry = this.#overlay.get(path);
    if (entry?.type === 'dir') entry.complete = false;
    this.#folders.onRemote(path);
  }

  protected override settledPath(path: string): void {
    if (this.#reads.deferred(path)) return;
    const entry = this.#overlay.get(path);
    if (entry === undefined) return;
    if (entry.type === 'file') this.#maybeDrop(entry.file);
    else this.#overlay.delete(path);
  }

  protected override discarded(entry: Entry): void {
    this.#shown.delete(entry);
    for (const p of opPaths(entry.op)) {
      const e = this.#overlay.get(p);
      if (e !== undefined && e.type !== 'file') this.#overlay.delete(p);
    }
  }

  protected override fileSettled(file: StagedFile): void {
    this.#maybeDrop(file);
  }

  protected override landed(entry: Entry): void {
    const op = entry.op;
    if (op.kind === 'put') {
      // Its file showed our ctime until now. What the remote showed right behind the put is
      // handed up when nothing changed the file since: no later put, and no later change of any
      // kind queued on its path (a chmod made after the put, answered here at once, would be
      // undone in the caches by the older mode); else the caches ask again. A file still open is
      // the VFS's to judge (its own buffered writes).
      const entryNow = this.#overlay.get(op.path);
      const file = entryNow?.type === 'file' ? entryNow.file : undefined;
      const settled = this.lastOn(op.path) === entry && (file === undefined || file.queuedPut === undefined);
      const stat = entry.remoteStat;
      this.#onLanded(op.path, settled && stat !== undefined ? this.#reads.hidden(op.path, stat) : undefined);
    } else if (!this.#shown.delete(entry)) {
      return;
    } else if (op.kind === 'setattr') {
      this.#onLanded(op.path);
    } else if (op.kind === 'rename') {
      this.#onLanded(op.to);
    }
  }

  /**
   * `fn` is told each path whose attributes shown before it reached the remote are not the
   * remote's (its ctime), with the remote's when they came along.
   */
  onLanded(fn: (path: string, stat?: FileStat) => void): void {
    this.#onLanded = fn;
  }

  /** Waits until every change accepted so far is on the remote (fsync of a folder); a refusal is thrown as its errno. */
  async flushAll(): Promise<void> {
    this.#folders.forgetAll();
    try {
      await this.queue.barrier();
      // Folders whose mkdir landed during the wait took a grace; the barrier ends it too.
      this.#folders.forgetAll();
    } catch (error) {
      if (error instanceof BarrierFailed) throw error.entries[0]?.error ?? new FsError('EIO', 'fsync');
      throw error;
    }
  }

  protected override openPutDelayMs(): number {
    return this.#openPutDelayMs;
  }

  async close(): Promise<void> {
    await this.closeJournal();
    await this.#inner.close();
  }

  // ---- helpers ----

  #staged(path: string, flags: OpenFlags, how: { mode: number; isNew: boolean; from?: FileStat }): FileHandle {
    const now = this.fit(nowSpec());
    const from = how.from;
    const meta: StagedMeta = {
      mode: how.mode & 0o7777, uid: from?.uid ?? this.owner.uid, gid: from?.gid ?? this.owner.gid,
      atime: from?.atime ?? now, mtime: now, isNew: how.isNew,
      ...(from === undefined ? {} : { baseline: { size: from.size, mtime: from.mtime } }),
    };
    const file = this.newFile(path, meta);
    this.#overlay.set(path, { type: 'file', file });
    if (how.isNew) this.#made.add(path);
    this.#addedName(path);
    const handle = new StagedHandle(file, this, { write: flags.write, append: flags.append === true });
    this.queuePut(file, false);
    return handle;
  }

  /**
   * Takes back what the journal holds for `path` when none of it has left yet (a file made and
   * removed before it was sent never travels). True when the remote never had it.
   */
  #withdraw(path: string): boolean {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'file' && entry.file.links.size > 0) {
      // One of several names: the others keep the file, and its removal is sent after the link.
      entry.file.dropName(path);
      this.#overlay.delete(path);
      return false;
    }
    if (entry?.type === 'file') {
      const file = entry.file;
      const queued = file.queuedPut;
      if (queued !== undefined && this.lastOn(path) === queued && queued.state === 'queued') {
        this.queue.drop(queued);
        file.queuedPut = undefined;
      }
      file.path = undefined;
      const never = file.meta.isNew && !file.remoteHasIt && file.queuedPut === undefined && this.lastOn(path) === undefined;
      this.#overlay.delete(path);
      this.#maybeDrop(file);
      return never;
    }
    if (entry?.type === 'dir' || entry?.type === 'symlink') {
      const mine = [...this.queue.entries()].filter(e => opPaths(e.op).includes(path));
      if (mine.length > 0 && mine.every(e => e.state === 'queued') && (mine[0]!.op.kind === 'mkdir' || mine[0]!.op.kind === 'symlink')
        && ![...this.queue.entries()].some(e => !mine.includes(e) && opPaths(e.op).some(p => p.startsWith(`${path}/`)))) {
        for (const e of mine) {
          this.queue.drop(e);
          this.#shown.delete(e);
        }
        this.#overlay.delete(path);
        return true;
      }
    }
    return false;
  }

  /** A staged file that is clean and closed leaves the overlay and frees its staging file. */
  #maybeDrop(file: StagedFile): void {
    if (file.handles > 0 || file.queuedPut !== undefined || file.sending > 0 || file.error !== undefined) return;
    const names = file.names();
    if (names.some(p => this.lastOn(p) !== undefined)) return;
    const mine = names.filter(p => {
      const entry = this.#overlay.get(p);
      return entry?.type === 'file' && entry.file === file;
    });
    if (mine.some(p => this.#reads.deferred(p))) return;
    for (const p of mine) this.#overlay.delete(p);
    this.forgetFile(file);
  }

  #forget(path: string): void {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'file') entry.file.dropName(path);
    this.#overlay.delete(path);
    if (entry?.type === 'file') this.#maybeDrop(entry.file);
  }

  /**
   * Nothing is journaled that would never be sent: a change to a remote gone for good, or to a
   * path its kernel cannot take (told now, as the remote would).
   */
  #mustBeReachable(syscall: string, path: string): void {
    if (this.#gone()) throw new FsError('EIO', syscall, path);
    if (this.#inner.capabilities.shortPaths === true && nameTooLong(path)) throw new FsError('ENAMETOOLONG', syscall, path);
  }

  #mustBeFree(path: string, syscall: string): void {
    const entry = this.#overlay.get(path);
    if (entry !== undefined && entry.type !== 'gone') throw new FsError('EEXIST', syscall, path);
  }

  /**
   * Every path the journal holds a change for that is not on the remote yet: overlay entries, where
   * what they show came from by pending moves, and the paths of queued operations.
   */
  #pending(): PendingPaths {
    const set = new PendingPaths();
    for (const p of this.#overlay.under('/')) {
      set.add(p);
      const entry = this.#overlay.get(p);
      const moved = entry?.type === 'remote' || entry?.type === 'dir' ? entry.moved : undefined;
      if (moved === undefined) continue;
      set.add(moved.origin);
      for (const m of moved.moves) for (const q of opPaths(m.op)) set.add(q);
    }
    for (const e of this.queue.entries()) {
      if (e.state !== 'done' && e.state !== 'dropped') for (const q of opPaths(e.op)) set.add(q);
    }
    return set;
  }

  /** Waits for every pending change at, above or below `paths`; a refusal among them is thrown as its errno. */
  async #settlePaths(paths: readonly string[]): Promise<void> {
    try {
      await this.queue.barrier(e => opPaths(e.op).some(q => paths.some(p => related(p, q))));
    } catch (error) {
      if (error instanceof BarrierFailed) throw error.entries[0]?.error ?? new FsError('EIO', 'sync');
      throw error;
    }
  }

  #fitted(attrs: ReturnType<typeof journalAttrs>): ReturnType<typeof journalAttrs> {
    return {
      ...attrs,
      ...(attrs.atime === undefined ? {} : { atime: this.fit(attrs.atime) }),
      ...(attrs.mtime === undefined ? {} : { mtime: this.fit(attrs.mtime) }),
    };
  }

  /** True when a handle writes in place at or below `path`. */
  #writingBelow(path: string): boolean {
    for (const p of this.#through.keys()) if (related(p, path) && p.length >= path.length) return true;
    return false;
  }

  /** True when no handle writes `path` in place: its changes go through, in order with those writes. */
  #free(path: string): boolean {
    return (this.#through.get(path) ?? 0) === 0;
  }

  /** The name at `path` was removed or moved away through us. */
  #removedName(path: string): void {
    const { parent, name } = split(path);
    this.#folders.removed(parent, name);
  }

  /** A name now exists at `path` through us: a known folder holding it must not answer it missing. */
  #addedName(path: string): void {
    const { parent, name } = split(path);
    this.#folders.added(parent, name);
  }

}

/** True when one path is the other or lies below it. */
function related(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short === '/' || long.startsWith(`${short}/`);
}

function isLinkMode(mode: number): boolean {
  return (mode & 0o170000) === S_IFLNK;
}

/** Options for the remote: what the caller knew is for this layer only. */
function noFollowOnly(options: SetAttrOptions): SetAttrOptions | undefined {
  return options.noFollow === true ? { noFollow: true } : undefined;
}

function applyAttrs(stat: FileStat, attrs: ReturnType<typeof journalAttrs>): FileStat {
  return {
    ...stat,
    ...(attrs.mode === undefined ? {} : { mode: (stat.mode & 0o170000) | (attrs.mode & 0o7777) }),
    ...(attrs.uid === undefined ? {} : { uid: attrs.uid }),
    ...(attrs.gid === undefined ? {} : { gid: attrs.gid }),
    ...(attrs.atime === undefined ? {} : { atime: attrs.atime }),
    ...(attrs.mtime === undefined ? {} : { mtime: attrs.mtime }),
    ctime: nowSpec(),
  };
}

