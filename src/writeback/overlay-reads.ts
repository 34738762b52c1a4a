/**
 * The read side of the write-back client: stats, listings and symlink targets answered from the
 * overlay (what the journal holds and the remote does not have yet) before the remote, so that a
 * program sees its own changes at once. write-back-client.ts is the change side.
 */
import {
  READ_FILES_MAX, canReadFiles, canSubtree, isDirMode,
  type DirEntry, type FileClient, type FileStat, type SmallFileRead, type Subtree, type SubtreeBounds, type SubtreeFolder,
} from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { KnownFolders } from './known-folders.ts';
import type { MadeHere } from './made-here.ts';
import type { Entry } from './op-queue.ts';
import { join, split, whereNow, type Moved, type Overlay, type OverlayEntry } from './overlay.ts';
import type { PendingPaths } from './pending-paths.ts';

const SYMLINK_DEPTH = 40;

export class OverlayReads {
  readonly #inner: FileClient;
  readonly #overlay: Overlay;
  readonly #made: MadeHere;
  readonly #folders: KnownFolders;
  /** Called for each path whose letting go waited for remote reads in flight. */
  readonly #settled: (path: string) => void;
  /** Resolves once none of these operations is on its way (answered, or back in the queue after a lost link). */
  readonly #answered: (entries: readonly Entry[]) => Promise<void>;
  /** Remote reads in flight: overlay entries are let go only when none is, so none misses a change. */
  #readers = 0;
  readonly #deferred = new Set<string>();

  constructor(inner: FileClient, overlay: Overlay, made: MadeHere, folders: KnownFolders, settled: (path: string) => void,
    answered: (entries: readonly Entry[]) => Promise<void>) {
    this.#answered = answered;
    this.#inner = inner;
    this.#overlay = overlay;
    this.#made = made;
    this.#folders = folders;
    this.#settled = settled;
  }

  async lstat(path: string): Promise<FileStat> {
    const known = this.known(path, 'lstat');
    if (known !== undefined) return known;
    return this.hidden(path, await this.located(path, at => this.#inner.lstat(at)));
  }

  async stat(path: string, depth = 0): Promise<FileStat> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'symlink') return this.stat(this.target(path, entry.target, depth, 'stat'), depth + 1);
    if (entry?.type === 'remote' && (entry.stat.mode & 0o170000) === 0o120000) return this.hidden(path, await this.located(path, at => this.#inner.stat(at)));
    const known = this.known(path, 'stat');
    if (known !== undefined) return known;
    return this.hidden(path, await this.located(path, at => this.#inner.stat(at)));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const entry = this.#overlay.get(path);
    if (entry?.type === 'gone') throw new FsError('ENOENT', 'readdir', path);
    if (entry?.type === 'file' || entry?.type === 'symlink' || entry?.type === 'remote') throw new FsError('ENOTDIR', 'readdir', path);
    if (entry === undefined && this.#underGone(path)) throw new FsError('ENOENT', 'readdir', path);
    const complete = entry?.type === 'dir' && entry.complete;
    // Merged while the read still counts as in flight: a change that lands meanwhile is let go
    // only after the merge, so it shows either in the remote's answer or from the journal.
    const out = complete ? this.#merged(path, []) : await this.located(path, async at => this.#merged(path, await this.#inner.readdir(at)));
    // The names as shown: one removed through us and not yet on the remote is not there.
    if (!complete) this.#folders.listed(path, out.map(e => e.name));
    return out;
  }

  /**
   * The remote's subtree, less every folder a pending change is at, above or below (`pending`, asked
   * after the answer: what changed while it was on its way counts too); `truncated` says some were
   * left out, for readdir to list them merged. `path` itself with changes only below it keeps the
   * listing the answer has, merged as readdir would merge it: the remote holds it where it is. With
   * a change at it or above it (made here, moved, removed, a pending chmod), the remote answer is of
   * no use, and the answer is readdir's merged listing of `path` alone: simplest, and as correct as
   * readdir.
   */
  async subtree(path: string, bounds: SubtreeBounds, pending: () => PendingPaths): Promise<Subtree> {
    const inner = this.#inner;
    if (!canSubtree(inner)) throw new FsError('ENOTSUP', 'subtree', path);
    if (pending().atOrAbove(path)) return this.#ownSubtree(path, bounds);
    return this.reading(async () => {
      const got = await inner.subtree(path, bounds);
      const now = pending();
      if (now.atOrAbove(path)) return this.#ownSubtree(path, bounds);
      let truncated = got.truncated;
      const folders: SubtreeFolder[] = [];
      got.folders.forEach((f, i) => {
        if (i === 0) {
          // Names made or removed here show only in readdir's merge: their folders are not in the answer.
          if (now.touches(path)) truncated = true;
          folders.push({ path: f.path, entries: this.#shown(f.path, f.entries) });
        } else if (now.touches(f.path)) {
          truncated = true;
        } else {
          folders.push({ path: f.path, entries: this.#shown(f.path, f.entries) });
        }
      });
      return { folders, truncated };
    });
  }

  async #ownSubtree(path: string, bounds: SubtreeBounds): Promise<Subtree> {
    let entries: DirEntry[];
    try {
      entries = await this.readdir(path);
    } catch (error) {
      if (isFsError(error)) throw new FsError(error.code, 'subtree', path, { cause: error });
      throw error;
    }
    return { folders: [{ path, entries }], truncated: bounds.maxDepth !== 1 && entries.some(e => isDirMode(e.stat.mode)) };
  }

  /**
   * The remote's small files, except those a pending change touches (staged content, a pending
   * move, a removal, pending attributes, or any of it on a folder above), which get EAGAIN: their
   * reads go through open and read, which see the journal. The rest go in one request.
   */
  async readFiles(paths: readonly string[], maxBytes: number, pending: () => PendingPaths): Promise<SmallFileRead[]> {
    const inner = this.#inner;
    if (!canReadFiles(inner)) throw new FsError('ENOTSUP', 'readFiles', paths[0]);
    if (paths.length > READ_FILES_MAX) throw new FsError('EINVAL', 'readFiles', paths[0]);
    const before = pending();
    const out: (SmallFileRead | undefined)[] = paths.map(p => (before.touches(p) ? notHere(p) : undefined));
    const ask = paths.filter((_, i) => out[i] === undefined);
    if (ask.length === 0) return out as SmallFileRead[];
    await this.reading(async () => {
      const got = await inner.readFiles(ask, maxBytes);
      const after = pending();
      let j = 0;
      paths.forEach((p, i) => {
        if (out[i] !== undefined) return;
        const f = got[j++]!;
        out[i] = after.touches(p) ? notHere(p) : f.stat === undefined ? f : { ...f, stat: this.hidden(p, f.stat) };
      });
    });
    return out as SmallFileRead[];
  }

  /** A remote listing of `path` as readdir shows it: merged with the journal, and its names taken as known (see KnownFolders). */
  #shown(path: string, listed: DirEntry[]): DirEntry[] {
    const out = this.#merged(path, [...listed]);
    this.#folders.listed(path, out.map(e => e.name));
    return out;
  }

  #merged(path: string, listed: DirEntry[]): DirEntry[] {
    for (let i = 0; this.#made.size > 0 && i < listed.length; i++) {
      const e = listed[i]!;
      if (e.stat.ino !== undefined && this.#made.has(join(path, e.name))) listed[i] = { name: e.name, stat: this.hidden(join(path, e.name), e.stat) };
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
    if (entry !== undefined && entry.type !== 'remote') throw new FsError('EINVAL', 'readlink', path);
    if (entry === undefined && this.#underGone(path)) throw new FsError('ENOENT', 'readlink', path);
    return this.located(path, at => this.#inner.readlink(at));
  }

  /** The attributes the overlay knows for `path`, or undefined to ask the remote. */
  known(path: string, syscall: string): FileStat | undefined {
    const entry = this.#overlay.get(path);
    if (entry === undefined) {
      if (this.knownAbsent(path) || this.#underGone(path)) throw new FsError('ENOENT', syscall, path);
      const parent = this.#overlay.get(split(path).parent);
      if (parent?.type === 'file' || parent?.type === 'symlink') throw new FsError('ENOTDIR', syscall, path);
      return undefined;
    }
    if (entry.type === 'gone') throw new FsError('ENOENT', syscall, path);
    return entry.type === 'file' ? entry.file.stat() : entry.stat;
  }

  /** True when `path` has no entry and its folder was made here, so the remote has nothing in it. */
  knownAbsent(path: string): boolean {
    if (this.#overlay.get(path) !== undefined) return false;
    const { parent: folder, name } = split(path);
    const parent = this.#overlay.get(folder);
    return parent?.type === 'gone' || (parent?.type === 'dir' && parent.complete) || this.#folders.missing(folder, name);
  }

  async remoteHas(path: string): Promise<boolean> {
    try {
      await this.located(path, at => this.#inner.lstat(at));
      return true;
    } catch (error) {
      if (isFsError(error, 'ENOENT')) return false;
      throw error;
    }
  }

  /** Where symlink `path` with `target` points, as an absolute remote path. */
  target(path: string, target: string, depth: number, syscall: string): string {
    if (depth >= SYMLINK_DEPTH) throw new FsError('ELOOP', syscall, path);
    if (target.startsWith('/')) return target;
    const parts = split(path).parent.split('/').filter(Boolean);
    for (const part of target.split('/')) {
      if (part === '..') parts.pop();
      else if (part !== '.' && part !== '') parts.push(part);
    }
    return `/${parts.join('/')}`;
  }

  /** `stat` without the remote's inode number when this mount made `path` (see MadeHere). */
  hidden(path: string, stat: FileStat): FileStat {
    if (stat.ino === undefined || !this.#made.has(path)) return stat;
    const { ino: _ino, ...rest } = stat;
    return rest;
  }

  /** True when `path` must wait to be let go: a remote read in flight might miss the change otherwise. */
  deferred(path: string): boolean {
    if (this.#readers === 0) return false;
    this.#deferred.add(path);
    return true;
  }

  /**
   * Runs a remote read of what `path` shows, where the remote holds it now (a pending rename
   * brought it to `path`). One that lands while the read is on its way makes it ask again.
   */
  async located<T>(path: string, fn: (at: string) => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      const at = this.remotePath(path);
      try {
        return await this.reading(() => fn(at));
      } catch (error) {
        if (tries >= 3 || !(isFsError(error, 'ENOENT') || isFsError(error, 'ENOTDIR'))) throw error;
        // The remote may have made a rename whose answer is still on its way (answers come in
        // order, but what they resolve takes some turns): wait for it, then look again.
        const sending = this.movesOf(path).filter(e => e.state === 'running');
        if (sending.length > 0) await this.#answered(sending);
        if (this.remotePath(path) === at) throw error;
      }
    }
  }

  /** Where the remote holds what `path` shows now: elsewhere while a rename of it, or of a folder above it, is pending. */
  remotePath(path: string): string {
    const own = movedOf(this.#overlay.get(path));
    if (own !== undefined) return whereNow(own);
    if (!this.#overlay.foldersMoving) return path;
    for (let p = split(path).parent; ; p = split(p).parent) {
      const moved = movedOf(this.#overlay.get(p));
      if (moved !== undefined) return whereNow(moved) + path.slice(p.length);
      if (p === '/') return path;
    }
  }

  /** The pending renames that brought what `path` shows there: its own, or those of the folder above it that moved. */
  movesOf(path: string): readonly Entry[] {
    const own = movedOf(this.#overlay.get(path));
    if (own !== undefined) return own.moves;
    if (!this.#overlay.foldersMoving) return [];
    for (let p = split(path).parent; ; p = split(p).parent) {
      const moved = movedOf(this.#overlay.get(p));
      if (moved !== undefined) return moved.moves;
      if (p === '/') return [];
    }
  }

  /** True when a folder above `path` was removed or moved away here (a rename not on the remote yet). */
  #underGone(path: string): boolean {
    if (!this.#overlay.foldersMoving) return false;
    for (let p = split(path).parent; p !== '/'; p = split(p).parent) {
      if (this.#overlay.get(p)?.type === 'gone') return true;
    }
    return false;
  }

  /** Runs a remote read; overlay entries settling meanwhile are let go after it. */
  async reading<T>(fn: () => Promise<T>): Promise<T> {
    this.#readers++;
    try {
      return await fn();
    } finally {
      if (--this.#readers === 0 && this.#deferred.size > 0) {
        const paths = [...this.#deferred];
        this.#deferred.clear();
        for (const p of paths) this.#settled(p);
      }
    }
  }
}

function movedOf(entry: OverlayEntry | undefined): Moved | undefined {
  return entry?.type === 'remote' || entry?.type === 'dir' ? entry.moved : undefined;
}

/** What readFiles answers for a path the journal holds changes for. */
function notHere(path: string): SmallFileRead {
  return { path, error: new FsError('EAGAIN', 'readFiles', path) };
}
