/**
 * The write-back layer: a FileClient over the real one that accepts changes locally, journals them
 * and sends them in the background (src/writeback/op-queue.ts), while every read, stat and listing
 * through it sees them at once (src/writeback/overlay.ts).
 *
 * What is accepted locally: files made here or opened with O_TRUNC (their whole content is staged
 * on local disk), mkdir, symlink, unlink, rename of a staged file, attribute changes of what is
 * staged. What goes through at once, after the pending changes it touches: an existing file
 * opened for writing in place, rmdir, link, mknod, renames of folders and of files not staged,
 * attribute changes of files not staged. Barriers (fsync, `sync`) wait for exactly what they need.
 */
import {
  S_IFDIR, S_IFLNK, type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat,
  type OpenFlags, type RenameOptions, type SetAttr, type SetAttrOptions, type StatFs, type WatchEvent,
  type WatchSubscription, isFileMode, isDirMode,
} from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { Logger } from '../remote/log.ts';
import type { Journal } from './journal.ts';
import { BarrierFailed, OpQueue, type Entry } from './op-queue.ts';
import { KnownFolders } from './known-folders.ts';
import { MadeHere } from './made-here.ts';
import { Overlay, join, split } from './overlay.ts';
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

const SYMLINK_DEPTH = 40;

export class WriteBackClient extends WriteBackState implements FileClient, StagedOwner {
  readonly capabilities: FileCapabilities;
  readonly closed?: Promise<void>;
  readonly #inner: FileClient;
  readonly #overlay = new Overlay();
  /** Paths with a handle writing through in place, and how many. */
  readonly #through = new Map<string, number>();
  /** Remote reads in flight: overlay entries are let go only when none is, so none misses a change. */
  #readers = 0;
  readonly #deferred = new Set<string>();
  readonly #openPutDelayMs: number;
  readonly #gone: () => boolean;
  readonly #made = new MadeHere();
  readonly #folders: KnownFolders;

  constructor(inner: FileClient, options: WriteBackOptions) {
    super(options.journal, options.log, options.maxBytes, options.owner, inner, options.maxRunning ?? 64);
    this.#inner = inner;
    this.capabilities = inner.capabilities;
    if (inner.closed !== undefined) this.closed = inner.closed;
    this.#openPutDelayMs = options.openPutDelayMs ?? 2000;
    this.#gone = options.linkGone ?? (() => false);
    this.#folders = new KnownFolders(options.knownFolderGraceMs ?? 2000);
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
  watch?: (root: string, listener: (events: WatchEvent[]) => void) => Promise<WatchSubscription>;
  mknod?: (path: string, mode: number, rdev: number) => Promise<void>;
  copyData?: (from: FileHandle, fromOffset: number, length: number, to: FileHandle, toOffset: number) => Promise<void>;

  // ---- reads: the overlay first, then the remote ----

  async lstat(path: string): Promise<FileStat> {
    const known = this.#known(path, 'lstat');
    if (known !== undefined) return known;
    return this.#hidden(path, await this.#reading(() => this.#inner.lstat(path)));
  }

  async stat(path: string, depth = 0): Promise<FileStat> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'symlink') return this.stat(this.#target(path, entry.target, depth, 'stat'), depth + 1);
    const known = this.#known(path, 'stat');
    if (known !== undefined) return known;
    return this.#hidden(path, await this.#reading(() => this.#inner.stat(path)));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'readdir', path);
    if (entry?.type === 'file' || entry?.type === 'symlink') throw new FsError('ENOTDIR', 'readdir', path);
    let listed: DirEntry[];
    if (entry?.type === 'dir' && entry.complete) listed = [];
    else {
      listed = await this.#reading(() => this.#inner.readdir(path));
      this.#folders.listed(path, listed.map(e => e.name));
    }
    for (let i = 0; this.#made.size > 0 && i < listed.length; i++) {
      const e = listed[i]!;
      if (e.stat.ino !== undefined && this.#made.has(join(path, e.name))) listed[i] = { name: e.name, stat: this.#hidden(join(path, e.name), e.stat) };
    }
    const mine = [...this.#overlay.children(path)];
    if (mine.length === 0) return listed;
    const changed = new Map(mine);
    const out = listed.filter(e => !changed.has(e.name));
    for (const [name, e] of mine) {
      if (e.type === 'file') out.push({ name, stat: e.file.stat() });
      else if (e.type !== 'gone') out.push({ name, stat: e.stat });
    }
    return out;
  }

  async readlink(path: string): Promise<string> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'symlink') return entry.target;
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'readlink', path);
    if (entry !== undefined) throw new FsError('EINVAL', 'readlink', path);
    return this.#reading(() => this.#inner.readlink(path));
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
    if (entry?.type === 'symlink') return this.open(this.#target(path, entry.target, depth, 'open'), flags, mode, depth + 1);
    if (entry?.type === 'dir') throw new FsError('EISDIR', 'open', path);
    if (entry?.type === 'file') {
      if (flags.create === true && flags.exclusive === true) throw new FsError('EEXIST', 'open', path);
      const handle = new StagedHandle(entry.file, this, { write: flags.write, append: flags.append === true });
      if (flags.truncate === true && flags.write) await handle.setattr({ size: 0 });
      return handle;
    }
    const writing = flags.write || flags.truncate === true;
    if (writing) this.#mustBeReachable('open', path);
    if (!writing) {
      if (entry?.type === 'gone') throw new FsError('ENOENT', 'open', path);
      return this.#inner.open(path, flags, mode);
    }
    if (entry?.type === 'gone' || this.#knownAbsent(path)) {
      if (flags.create !== true) throw new FsError('ENOENT', 'open', path);
      return this.#staged(path, flags, { mode, isNew: true });
    }
    if ((this.#through.get(path) ?? 0) === 0) {
      // The kernel creates only names it believes missing: trust it, and keep both if it was wrong.
      if (flags.create === true && flags.exclusive === true) return this.#staged(path, flags, { mode, isNew: true });
      if (flags.truncate === true || flags.create === true) {
        const now = await this.#reading(() => this.#inner.lstat(path)).catch(error => {
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
    if (this.#withdraw(path)) return;
    this.enqueue({ kind: 'unlink', path });
    this.#overlay.set(path, { type: 'gone' });
  }

  async rmdir(path: string): Promise<void> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'rmdir', path);
    if (entry?.type === 'file' || entry?.type === 'symlink') throw new FsError('ENOTDIR', 'rmdir', path);
    if (this.#overlay.hasPresentChild(path)) throw new FsError('ENOTEMPTY', 'rmdir', path);
    this.#made.delete(path);
    if (entry?.type === 'dir' && this.#withdraw(path)) return;
    await this.#settlePaths([path]);
    await this.#inner.rmdir(path);
    this.#folders.forget(path);
    for (const p of this.#overlay.under(path)) this.#forget(p);
  }

  async rename(from: string, to: string, options?: RenameOptions): Promise<void> {
    this.#mustBeReachable('rename', from);
    const source = this.#overlay.get(from);
    if (source?.type === 'gone') throw new FsError('ENOENT', 'rename', from);
    if (from === to) return;
    const target = this.#overlay.get(to);
    if (source?.type === 'file') {
      if (target?.type === 'dir') throw new FsError('EISDIR', 'rename', to);
      if (options?.noReplace === true && ((target !== undefined && target.type !== 'gone') || (target === undefined && await this.#remoteHas(to)))) {
        throw new FsError('EEXIST', 'rename', to);
      }
      if (target !== undefined && target.type !== 'gone') this.#withdraw(to);
      const file = source.file;
      this.enqueue({ kind: 'rename', from, to });
      this.#overlay.set(from, { type: 'gone' });
      this.#overlay.set(to, { type: 'file', file });
      file.path = to;
      this.#made.delete(to);
      this.#made.move(from, to);
      this.#addedName(to);
      return;
    }
    await this.#settlePaths([from, to]);
    await this.#inner.rename(from, to, options);
    if (target?.type === 'file') target.file.path = undefined;
    this.#overlay.delete(to);
    this.#overlay.rekey(from, to, (file, path) => { file.path = path; });
    this.#made.delete(to);
    this.#made.move(from, to);
    this.#folders.forget(from);
    this.#addedName(to);
  }

  async link(existing: string, newPath: string): Promise<void> {
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
    if (entry?.type === 'symlink' && options?.noFollow !== true) return this.setattr(this.#target(path, entry.target, depth, 'setattr'), attrs, options, depth + 1);
    if (entry?.type === 'file') {
      const grew = entry.file.setattr(attrs);
      // A put still waiting reads the new attributes when it goes; a replay reads them here.
      if (entry.file.queuedPut !== undefined) this.journalMeta(entry.file);
      this.modified(entry.file, grew, attrs.size === undefined ? attrs : undefined);
      return;
    }
    if (entry?.type === 'dir' || entry?.type === 'symlink') {
      const attrsNow = this.#fitted(journalAttrs(attrs, nowSpec()));
      entry.stat = applyAttrs(entry.stat, attrsNow);
      this.enqueue({ kind: 'setattr', path, attrs: attrsNow, ...(options?.noFollow === true ? { noFollow: true } : {}) });
      return;
    }
    await this.#settlePaths([path]);
    await this.#inner.setattr(path, attrs, options);
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
      this.enqueue({ kind: 'setattr', path: file.path, attrs: this.#fitted(journalAttrs(attrsOnly, nowSpec())) });
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
    await this.#settlePaths([path]);
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
    if (this.#readers > 0) {
      this.#deferred.add(path);
      return;
    }
    const entry = this.#overlay.get(path);
    if (entry === undefined) return;
    if (entry.type === 'file') this.#maybeDrop(entry.file);
    else this.#overlay.delete(path);
  }

  protected override discarded(entry: Entry): void {
    for (const p of opPaths(entry.op)) {
      const e = this.#overlay.get(p);
      if (e !== undefined && e.type !== 'file') this.#overlay.delete(p);
    }
  }

  protected override fileSettled(file: StagedFile): void {
    this.#maybeDrop(file);
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
        for (const e of mine) this.queue.drop(e);
        this.#overlay.delete(path);
        return true;
      }
    }
    return false;
  }

  /** A staged file that is clean and closed leaves the overlay and frees its staging file. */
  #maybeDrop(file: StagedFile): void {
    if (file.handles > 0 || file.queuedPut !== undefined || file.sending > 0 || file.error !== undefined) return;
    if (file.path !== undefined && this.lastOn(file.path) !== undefined) return;
    if (file.path !== undefined) {
      const entry = this.#overlay.get(file.path);
      if (entry?.type === 'file' && entry.file === file) {
        if (this.#readers > 0) {
          this.#deferred.add(file.path);
          return;
        }
        this.#overlay.delete(file.path);
      }
    }
    this.forgetFile(file);
  }

  #forget(path: string): void {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'file') entry.file.path = undefined;
    this.#overlay.delete(path);
    if (entry?.type === 'file') this.#maybeDrop(entry.file);
  }

  /** The attributes the overlay knows for `path`, or undefined to ask the remote. */
  #known(path: string, syscall: string): FileStat | undefined {
    const entry = this.#overlay.get(path);
    if (entry === undefined) {
      if (this.#knownAbsent(path)) throw new FsError('ENOENT', syscall, path);
      const parent = this.#overlay.get(split(path).parent);
      if (parent?.type === 'file' || parent?.type === 'symlink') throw new FsError('ENOTDIR', syscall, path);
      return undefined;
    }
    if (entry.type === 'gone') throw new FsError('ENOENT', syscall, path);
    return entry.type === 'file' ? entry.file.stat() : entry.stat;
  }

  /** True when `path` has no entry and its folder was made here, so the remote has nothing in it. */
  #knownAbsent(path: string): boolean {
    if (this.#overlay.get(path) !== undefined) return false;
    const { parent: folder, name } = split(path);
    const parent = this.#overlay.get(folder);
    return parent?.type === 'gone' || (parent?.type === 'dir' && parent.complete) || this.#folders.missing(folder, name);
  }

  /** Nothing is journaled for a remote gone for good: it would never be sent. */
  #mustBeReachable(syscall: string, path: string): void {
    if (this.#gone()) throw new FsError('EIO', syscall, path);
  }

  #mustBeFree(path: string, syscall: string): void {
    const entry = this.#overlay.get(path);
    if (entry !== undefined && entry.type !== 'gone') throw new FsError('EEXIST', syscall, path);
  }

  async #remoteHas(path: string): Promise<boolean> {
    try {
      await this.#reading(() => this.#inner.lstat(path));
      return true;
    } catch (error) {
      if (isFsError(error, 'ENOENT')) return false;
      throw error;
    }
  }

  #target(path: string, target: string, depth: number, syscall: string): string {
    if (depth >= SYMLINK_DEPTH) throw new FsError('ELOOP', syscall, path);
    if (target.startsWith('/')) return target;
    const parts = split(path).parent.split('/').filter(Boolean);
    for (const part of target.split('/')) {
      if (part === '..') parts.pop();
      else if (part !== '.' && part !== '') parts.push(part);
    }
    return `/${parts.join('/')}`;
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

  /** A name now exists at `path` through us: a known folder holding it must not answer it missing. */
  #addedName(path: string): void {
    const { parent, name } = split(path);
    this.#folders.added(parent, name);
  }

  /** `stat` without the remote's inode number when this mount made `path` (see MadeHere). */
  #hidden(path: string, stat: FileStat): FileStat {
    if (stat.ino === undefined || !this.#made.has(path)) return stat;
    const { ino: _ino, ...rest } = stat;
    return rest;
  }

  async #reading<T>(fn: () => Promise<T>): Promise<T> {
    this.#readers++;
    try {
      return await fn();
    } finally {
      if (--this.#readers === 0 && this.#deferred.size > 0) {
        const paths = [...this.#deferred];
        this.#deferred.clear();
        for (const p of paths) this.settledPath(p);
      }
    }
  }
}

/** True when one path is the other or lies below it. */
function related(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short === '/' || long.startsWith(`${short}/`);
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

