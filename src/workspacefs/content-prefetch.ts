import { READ_FILES_MAX, S_IFDIR, S_IFMT, S_IFREG, canReadFiles, type FileHandle, type FileStat, type ReadFilesFileClient } from '../remote/file-client.ts';
import type { Attributes } from './attributes.ts';
import { LazyFileHandle, type ContentCache } from './content-cache.ts';
import type { VfsCore } from './core.ts';
import type { Entries } from './entries.ts';
import { IdleSignal } from './idle.ts';
import type { Node } from './inode-table.ts';
import type { Listing } from './dir-cache.ts';
import type { Listings } from './listings.ts';
import type { Logger } from '../remote/log.ts';

/** A small file to read ahead; `release` settles its entry in the in-flight map. */
interface ContentJob {
  node: Node;
  stat: FileStat;
  fetchedAt: number;
  release: () => void;
}

/** Folders remembered as queued for read-ahead (oldest forgotten first). */
const CONTENT_DIRS_MAX = 4096;
/** Bytes of file content one readFiles request asks for at most. */
const BATCH_BYTES = 1 << 20;

/**
 * Read-ahead of small files: when files of one folder are opened read-only one after another
 * (`git status` after a clone, `grep -r`), the folder's other small files are read in the
 * background into the ContentCache, and later read-only opens of them cost no round trip. Where
 * the client reads many small files in one request (the agent), they go in batches of up to
 * {@link READ_FILES_MAX} files or {@link BATCH_BYTES}; else each is an open, a read and a close.
 */
export class ContentPrefetch {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #listings: Listings;
  readonly #entries: Entries;
  readonly #contents: ContentCache;
  readonly #log: Logger;
  /** Reads queued or running, per inode; written only by `#plan` (set) and `#pump` (delete). */
  readonly #inFlight = new Map<number, Promise<void>>();
  #queue: ContentJob[] = [];
  #active = 0;
  /** Folders being planned (their listing read) now. */
  #planning = 0;
  /** The last read-only open (folder, file, when) and until when files are being read folder by folder. */
  #lastReadOpen: { dir: number; ino: number; at: number } | undefined;
  #readWalkUntil = 0;
  /** Folders whose small files were queued for read-ahead, and when. */
  readonly #queuedDirs = new Map<number, number>();
  readonly #idle = new IdleSignal();

  constructor(core: VfsCore, attrs: Attributes, listings: Listings, entries: Entries, contents: ContentCache, log: Logger) {
    this.#core = core;
    this.#attrs = attrs;
    this.#listings = listings;
    this.#entries = entries;
    this.#contents = contents;
    this.#log = log;
  }

  /** Resolves once no folder is being planned and no file is queued or being read. */
  idle(): Promise<void> {
    return this.#idle.wait(this.#busy);
  }

  /**
   * A read-only open of `node` at `path`: its content when it was read ahead and still matches its
   * fresh attributes, with a handle that opens the remote file only if something needs more.
   * Notes the open, so that a folder read file by file gets its small files read ahead.
   */
  async opened(node: Node, path: string): Promise<{ data: Buffer; remote: FileHandle } | undefined> {
    const { opts, handles, counters } = this.#core;
    if (opts.contentCacheBytes <= 0) return undefined;
    this.#noteReadOpen(node);
    const pending = this.#inFlight.get(node.ino);
    if (pending !== undefined) await pending;
    const fresh = this.#attrs.fresh(node);
    if (!(fresh || this.#attrs.usable(node)) || !node.attrFromRemote || handles.hasWriter(node)) return undefined;
    const data = this.#contents.get(node.ino, node.attr!, !fresh);
    if (data === undefined) return undefined;
    counters.cache.content.hits++;
    const { table, caller, client } = this.#core;
    const remote = new LazyFileHandle(path, () => table.pathOf(node), p => caller.call('open', p, () => client.open(p, { read: true, write: false })));
    return { data, remote };
  }

  get #busy(): boolean {
    return this.#planning > 0 || this.#active > 0 || this.#queue.length > 0;
  }

  /**
   * Two different files of one folder opened read-only within a second (or any folder while that
   * pattern holds) start reading the folder's other small files ahead.
   */
  #noteReadOpen(node: Node): void {
    const { opts } = this.#core;
    const dir = node.firstLink()?.parent;
    // While the link is down, reads ahead would only queue up behind it.
    if (dir === undefined || this.#core.outage.down) return;
    const now = opts.now();
    const last = this.#lastReadOpen;
    this.#lastReadOpen = { dir: dir.ino, ino: node.ino, at: now };
    const walking = now < this.#readWalkUntil
      || (last !== undefined && last.dir === dir.ino && last.ino !== node.ino && now - last.at < 1000);
    if (!walking) return;
    this.#readWalkUntil = now + 2000;
    if (!this.#claimFolder(dir.ino)) return;
    this.#planning++;
    void this.#plan(dir, node)
      .catch(error => this.#log.debug('content read-ahead failed', error))
      .finally(() => {
        this.#planning--;
        this.#idle.check(this.#busy);
      });
  }

  /**
   * Queues the small regular files of `dir` (names after `current`'s first) for reading ahead,
   * then those of the folders below it whose listings are cached (a walk goes there next), breadth
   * first, within one budget.
   */
  async #plan(dir: Node, current: Node): Promise<void> {
    const { opts, table } = this.#core;
    let listing = this.#listings.cached(dir.ino);
    if (listing === undefined) {
      const path = table.pathOf(dir);
      if (path === undefined) return;
      listing = await this.#listings.fetch(dir, path);
    }
    const budget = { bytes: opts.contentCacheBytes / 4 };
    const folders: Array<[Node, Listing]> = [[dir, listing]];
    for (let i = 0; i < folders.length && budget.bytes > 0 && this.#queue.length < opts.prefetchQueueMax; i++) {
      const [folder, its] = folders[i]!;
      if (table.get(folder.ino) !== folder || table.pathOf(folder) !== its.path) continue;
      this.#planFolder(folder, its, i === 0 ? current : undefined, budget);
      for (const { name, stat } of its.entries) {
        if ((stat.mode & S_IFMT) !== S_IFDIR) continue;
        const child = table.child(folder, name);
        const childListing = child === undefined ? undefined : this.#listings.cached(child.ino);
        if (child === undefined || childListing === undefined || !this.#claimFolder(child.ino)) continue;
        folders.push([child, childListing]);
      }
    }
    this.#pump();
  }

  /**
   * True when folder `ino` was not queued for read-ahead within the attribute lifetime, and now
   * is (remembered as the newest; the oldest are forgotten past CONTENT_DIRS_MAX).
   */
  #claimFolder(ino: number): boolean {
    const { opts } = this.#core;
    const now = opts.now();
    const queued = this.#queuedDirs.get(ino);
    if (queued !== undefined && now - queued < opts.attrTimeoutMs) return false;
    this.#queuedDirs.delete(ino);
    this.#queuedDirs.set(ino, now);
    if (this.#queuedDirs.size > CONTENT_DIRS_MAX) this.#queuedDirs.delete(this.#queuedDirs.keys().next().value!);
    return true;
  }

  /** Queues the small files of one folder, from `listing`, in name order after `current`'s. */
  #planFolder(dir: Node, listing: Listing, current: Node | undefined, budget: { bytes: number }): void {
    const { opts, handles } = this.#core;
    const currentName = current?.firstLink()?.name ?? '';
    const files = listing.entries
      .filter(e => (e.stat.mode & S_IFMT) === S_IFREG && e.stat.size <= opts.contentMaxFileBytes)
      .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    const after = files.findIndex(e => Buffer.compare(Buffer.from(e.name), Buffer.from(currentName)) > 0);
    const ordered = after < 0 ? files : [...files.slice(after), ...files.slice(0, after)];
    const expires = listing.fetchedAt + opts.attrTimeoutMs;
    for (const { name, stat } of ordered) {
      if (budget.bytes < stat.size || this.#queue.length >= opts.prefetchQueueMax) break;
      const node = this.#entries.node(dir, name, stat);
      if (node === current || this.#inFlight.has(node.ino) || this.#contents.has(node.ino)) continue;
      if (handles.hasWriter(node)) continue;
      if (!this.#attrs.fresh(node)) this.#attrs.store(node, stat, listing.fetchedAt);
      budget.bytes -= stat.size;
      if (stat.size === 0) {
        this.#keep(node, Buffer.alloc(0), stat, expires);
        continue;
      }
      let release!: () => void;
      this.#inFlight.set(node.ino, new Promise<void>(resolve => { release = resolve; }));
      this.#queue.push({ node, stat, fetchedAt: listing.fetchedAt, release });
    }
  }

  /** Reads queued small files, `prefetchConcurrency` requests at once. */
  #pump(): void {
    const most = Math.max(1, this.#core.opts.prefetchConcurrency);
    const { client } = this.#core;
    while (this.#active < most && this.#queue.length > 0) {
      if (canReadFiles(client)) {
        this.#pumpBatch(client);
        continue;
      }
      const job = this.#queue.shift()!;
      this.#active++;
      this.#fetch(job.node, job.stat, job.fetchedAt)
        .catch(() => undefined)
        .finally(() => {
          this.#inFlight.delete(job.node.ino);
          job.release();
          this.#active--;
          this.#pump();
        });
    }
    this.#idle.check(this.#busy);
  }

  /** Starts one readFiles request for the files at the head of the queue. */
  #pumpBatch(client: ReadFilesFileClient): void {
    const jobs: ContentJob[] = [];
    let bytes = 0;
    while (this.#queue.length > 0 && jobs.length < READ_FILES_MAX && (jobs.length === 0 || bytes + this.#queue[0]!.stat.size <= BATCH_BYTES)) {
      const job = this.#queue.shift()!;
      bytes += job.stat.size;
      jobs.push(job);
    }
    this.#active++;
    this.#fetchBatch(client, jobs)
      .catch(() => undefined)
      .finally(() => {
        for (const job of jobs) {
          this.#inFlight.delete(job.node.ino);
          job.release();
        }
        this.#active--;
        this.#pump();
      });
  }

  /** One readFiles request for `jobs`; each file is kept if it came whole and as the listing showed it. */
  async #fetchBatch(client: ReadFilesFileClient, jobs: readonly ContentJob[]): Promise<void> {
    const { opts, table, caller, counters } = this.#core;
    const live = jobs.flatMap(job => {
      const path = table.pathOf(job.node);
      return path === undefined || !this.#core.watch.valid(job.fetchedAt + opts.attrTimeoutMs, opts.attrTimeoutMs) ? [] : [{ job, path }];
    });
    if (live.length === 0) return;
    counters.cache.content.misses += live.length;
    const maxBytes = Math.max(...live.map(({ job }) => job.stat.size));
    const got = await caller.call('readFiles', live[0]!.path, () => client.readFiles(live.map(l => l.path), maxBytes));
    got.forEach((file, i) => {
      const { job } = live[i]!;
      const { stat, data } = file;
      if (file.error !== undefined || stat === undefined || data === undefined || table.get(job.node.ino) !== job.node) return;
      counters.remoteBytesRead += data.length;
      if (data.length !== job.stat.size || stat.size !== job.stat.size
        || stat.mtime.sec !== job.stat.mtime.sec || stat.mtime.nsec !== job.stat.mtime.nsec) return;
      this.#keep(job.node, data, job.stat, job.fetchedAt + opts.attrTimeoutMs);
    });
  }

  /** OPEN, one READ of the whole file, CLOSE in the background; kept if it is the size the listing said. */
  async #fetch(node: Node, stat: FileStat, fetchedAt: number): Promise<void> {
    const { opts, table, caller, client, counters } = this.#core;
    const path = table.pathOf(node);
    const expires = fetchedAt + opts.attrTimeoutMs;
    if (path === undefined || !this.#core.watch.valid(expires, opts.attrTimeoutMs)) return;
    counters.cache.content.misses++;
    const handle = await caller.call('open', path, () => client.open(path, { read: true, write: false }));
    try {
      const data = Buffer.allocUnsafe(stat.size);
      const n = await caller.call('handle.read', path, () => handle.read(data, 0, stat.size, 0));
      counters.remoteBytesRead += n;
      if (n !== stat.size || table.get(node.ino) !== node) return;
      this.#keep(node, data, stat, expires);
    } finally {
      caller.call('handle.close', path, () => handle.close()).catch(() => undefined);
    }
  }

  #keep(node: Node, data: Buffer, stat: FileStat, expires: number): void {
    this.#contents.set(node.ino, { data, size: stat.size, mtimeSec: stat.mtime.sec, mtimeNsec: stat.mtime.nsec, expires });
  }
}
