import { S_IFMT, type DirEntry, type FileStat } from '../remote/file-client.ts';
import { isFsError, type ErrnoName, type FsError } from '../remote/fs-error.ts';
import type { Attributes } from './attributes.ts';
import { pathOrEnoent, type VfsCore } from './core.ts';
import { DirCache, type Listing } from './dir-cache.ts';
import { joinPath, type Node } from './inode-table.ts';
import type { KernelNotices } from './kernel-notices.ts';
import { NegativeCache } from './negative-cache.ts';

/** A listing being read from the remote. */
interface ListingInFlight {
  dirs: DirCache;
  generation: number;
  path: string;
  promise: Promise<Listing>;
}

/** When a request that reads many listings at once started (see `Listings.readStarts`). */
export interface ListingRead {
  readonly dirs: DirCache;
  readonly sequence: number;
  readonly askedAt: number;
}

/** What a name resolved to: remote attributes, and when the listing that had them was read. */
export interface Found {
  stat: FileStat;
  fetchedAt?: number;
}

/** A listing that fails with one of these is not the last word on a name: lstat it instead. */
const LISTING_FALLBACK_ERRORS: ReadonlySet<ErrnoName> = new Set<ErrnoName>(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);

/**
 * Folder listings and what they say about names: the single-flight fetch, the store (which also
 * refreshes the children's attributes), staleness, and the negative-lookup cache. A fresh listing
 * answers lookups and getattrs of its children, so a tree walk costs one readdir per folder.
 */
export class Listings {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #notices: KernelNotices;
  /** A request used a listing: the listing read-ahead decides what follows. */
  readonly #used: (dir: Node, listing: Listing) => void;
  /** Settles once a read under way that brings the listing of folder `dir` (a subtree) is stored. */
  readonly #coming: (dir: Node) => Promise<void> | undefined;
  /** Replaced only by `reset`; a listing read under an older instance is never stored. */
  #dirs: DirCache;
  /** Replaced only by `reset`. */
  #negative: NegativeCache;
  /** At most one read per directory (and generation); entries removed by the read that added them. */
  readonly #inFlight = new Map<number, ListingInFlight>();

  constructor(core: VfsCore, attrs: Attributes, notices: KernelNotices, used: (dir: Node, listing: Listing) => void,
    coming: (dir: Node) => Promise<void> | undefined = () => undefined) {
    this.#core = core;
    this.#attrs = attrs;
    this.#notices = notices;
    this.#used = used;
    this.#coming = coming;
    this.#dirs = new DirCache(core.opts.dirTimeoutMs, core.opts.now, core.watch);
    this.#negative = new NegativeCache(core.opts.negativeTimeoutMs, core.opts.now, core.watch);
  }

  /** Forgets every listing and every name known missing (`rmount cache flush`). */
  reset(): void {
    const { opts } = this.#core;
    this.#dirs = new DirCache(opts.dirTimeoutMs, opts.now, this.#core.watch);
    this.#negative = new NegativeCache(opts.negativeTimeoutMs, opts.now, this.#core.watch);
  }

  /** The fresh listing of folder `ino`, if cached. */
  cached(ino: number): Listing | undefined {
    return this.#dirs.get(ino);
  }

  /** True while a listing of `ino` is cached or being read. */
  known(ino: number): boolean {
    return this.#dirs.has(ino) || this.#inFlight.has(ino);
  }

  /** True when folder `ino` changed through us within the listing lifetime. */
  recentlyChanged(ino: number): boolean {
    return this.#dirs.recentlyChanged(ino);
  }

  /**
   * The kernel forgot folder `ino`: its listing goes once past its lifetime, and the names known
   * missing in it go now (nothing asks for them through a folder no one holds).
   */
  forgotten(ino: number): void {
    this.#dirs.forgotten(ino);
    this.#negative.deleteDir(ino);
  }

  /** Listings kept and their entries, for `rmount status`. */
  size(): { listings: number; entries: number } {
    return this.#dirs.size();
  }

  /** Something in folder `ino` changed: its listing is stale. */
  changed(ino: number): void {
    this.#dirs.delete(ino);
  }

  /** A folder at `path` was renamed or removed: listings read at or below it are stale. */
  changedUnder(path: string): void {
    this.#dirs.deleteUnder(path);
  }

  /** Remembers that `name` does not exist in folder `ino`. */
  markMissing(ino: number, name: string): void {
    this.#negative.add(ino, name);
  }

  /** `name` in folder `ino` exists now. */
  unmarkMissing(ino: number, name: string): void {
    this.#negative.delete(ino, name);
  }

  /**
   * What `name` in `dir` (at `path`) is on the remote: from a listing (cached, or read now for
   * this and every sibling), else one lstat; undefined when missing (and remembered as missing).
   */
  async find(dir: Node, name: string, syscall: string): Promise<Found | undefined> {
    const { counters } = this.#core;
    let arriving: Promise<Listing | undefined> | undefined;
    if (this.#negative.has(dir.ino, name)) {
      counters.cache.negative.hits++;
      return undefined;
    }
    let listing = this.#dirs.get(dir.ino);
    let fetchedForThis = false;
    let outdated = false;
    if (listing !== undefined) {
      counters.cache.dir.hits++;
    } else if ((listing = this.#outdated(dir, true)) !== undefined) {
      outdated = true;
      counters.cache.dir.hits++;
    } else if ((arriving = this.#arriving(dir)) !== undefined && (listing = await arriving) !== undefined) {
      counters.cache.dir.hits++;
    } else if (this.#listsForLookup(dir)) {
      fetchedForThis = true;
      // One listing answers this name and every sibling (git status, ls -l, find): one round
      // trip per directory instead of one per name. Concurrent lookups share it.
      counters.cache.dir.misses++;
      listing = await this.#fetchCurrent(dir, pathOrEnoent(this.#core.table, dir, syscall));
    }
    const listed = listing?.byName.get(name);
    if (listing !== undefined) {
      if (!outdated) this.#used(dir, listing);
      if (listed !== undefined) return { stat: listed, fetchedAt: listing.fetchedAt };
      // "Missing" is taken from a listing fetched for this lookup, and from an older one only as
      // CacheWatch.trustsMissing says: a file a remote command just made (rmount exec, a stub) must
      // show to the local tool that runs next, and with `-o cto` every name is checked. While the
      // link is down, the listing we have is the best answer (and is not remembered).
      if (fetchedForThis || (!outdated && this.#core.watch.trustsMissing(listing.fetchedAt))) return this.#missing(dir, name);
      // While the link is down the listing is the best answer, fresh or not: a save into a listed
      // folder then goes to the write-back journal instead of failing after the timeout.
      if (outdated || this.#core.outage.servesStale()) return undefined;
    }
    counters.cache.entry.misses++;
    const path = joinPath(pathOrEnoent(this.#core.table, dir, syscall), name);
    try {
      return { stat: await this.#core.caller.call('lstat', path, () => this.#core.client.lstat(path)) };
    } catch (error) {
      if (!isFsError(error, 'ENOENT')) throw error;
      counters.cache.negative.misses++;
      return this.#missing(dir, name);
    }
  }

  /**
   * Attributes of `node` from a listing of its parent (cached while younger than the attribute
   * lifetime, else read now and shared with every sibling), or 'gone' when the listing lacks
   * its name. Undefined when a plain lstat should answer: the root, a file open for writing
   * (our view wins), a parent being changed through us or too large, attribute caching off,
   * or a listing that failed.
   */
  async attrOf(node: Node): Promise<FileStat | 'gone' | undefined> {
    const { opts, table, handles } = this.#core;
    const link = node.firstLink();
    if (link === undefined || opts.attrTimeoutMs <= 0 || handles.hasWriter(node)) return undefined;
    const { parent, name } = link;
    let listing = this.#dirs.get(parent.ino);
    if (listing !== undefined && !this.#core.watch.valid(listing.fetchedAt + opts.attrTimeoutMs, opts.attrTimeoutMs)) listing = undefined;
    if (listing === undefined) {
      const path = table.pathOf(parent);
      if (!this.#listsForLookup(parent) || path === undefined) return undefined;
      listing = await this.#fetchCurrent(parent, path);
      if (listing === undefined) return undefined;
    }
    this.#used(parent, listing);
    if (node.firstLink()?.parent !== parent || node.firstLink()?.name !== name) return undefined;
    const stat = listing.byName.get(name);
    if (stat === undefined || (stat.mode & S_IFMT) !== node.type
      || (stat.ino !== undefined && node.remoteIno !== undefined && stat.ino !== node.remoteIno)) return 'gone';
    this.#attrs.store(node, stat, listing.fetchedAt);
    return stat;
  }

  /** The listing of `dir` for a request: cached while fresh, else one remote readdir. */
  async listing(dir: Node): Promise<Listing> {
    const { counters, table } = this.#core;
    let arriving: Promise<Listing | undefined> | undefined;
    let listing = this.#dirs.get(dir.ino);
    if (listing !== undefined) {
      counters.cache.dir.hits++;
    } else if ((listing = this.#outdated(dir)) !== undefined) {
      counters.cache.dir.hits++;
      return listing;
    } else if ((arriving = this.#arriving(dir)) !== undefined && (listing = await arriving) !== undefined) {
      counters.cache.dir.hits++;
    } else {
      counters.cache.dir.misses++;
      listing = await this.fetch(dir, pathOrEnoent(table, dir, 'readdir'));
    }
    this.#used(dir, listing);
    return listing;
  }

  /**
   * Reads the listing of `dir` from the remote (or joins the read in flight for it), stores it
   * with its children's attributes, and returns it. Listings read while the directory changed
   * through us are returned but not stored.
   */
  fetch(dir: Node, path: string, prefetched = false): Promise<Listing> {
    const { table, caller, client } = this.#core;
    const ino = dir.ino;
    const dirs = this.#dirs;
    const generation = dirs.generation(ino);
    const running = this.#inFlight.get(ino);
    if (running !== undefined && running.dirs === dirs && running.generation === generation && running.path === path) {
      return running.promise;
    }
    const record = { dirs, generation, path } as ListingInFlight;
    record.promise = (async (): Promise<Listing> => {
      try {
        let entries: DirEntry[];
        // The listing is as old as the request, not its answer: a change made on the remote while
        // a slow readdir was under way must show within one lifetime of the change.
        const askedAt = this.#core.opts.now();
        try {
          entries = await caller.call('readdir', path, () => client.readdir(path));
        } catch (error) {
          if (!prefetched && isFsError(error, 'ENOENT') && dir !== table.root && table.pathOf(dir) === path) this.vanished(dir);
          throw error;
        }
        return this.#store(dir, path, entries, dirs, generation, prefetched, askedAt);
      } finally {
        if (this.#inFlight.get(ino) === record) this.#inFlight.delete(ino);
      }
    })();
    this.#inFlight.set(ino, record);
    return record.promise;
  }

  /** A mark to store listings read in one request after it by (see {@link storeRead}). */
  readStarts(): ListingRead {
    return { dirs: this.#dirs, sequence: this.#dirs.sequence, askedAt: this.#core.opts.now() };
  }

  /**
   * Stores the listing of folder `dir` at `path` read by a request started at `read` (with its
   * children's attributes, as a prefetched listing), unless the folder changed through us since,
   * was renamed, or the caches were flushed. False when it was not stored.
   */
  storeRead(read: ListingRead, dir: Node, path: string, entries: DirEntry[]): boolean {
    const { dirs } = read;
    if (dirs !== this.#dirs || dirs.generation(dir.ino) > read.sequence || this.#core.table.pathOf(dir) !== path) return false;
    this.#store(dir, path, entries, dirs, dirs.generation(dir.ino), true, read.askedAt);
    return true;
  }

  /** The first name of `node` no longer exists remotely: forget it and tell the kernel. */
  vanished(node: Node): void {
    const link = node.firstLink();
    if (link === undefined) return;
    const { parent, name } = link;
    this.#core.table.unlinkName(parent, name);
    this.#dirs.delete(parent.ino);
    this.#negative.add(parent.ino, name);
    this.#notices.entry(parent.ino, name);
  }

  #store(dir: Node, path: string, entries: DirEntry[], dirs: DirCache, generation: number, prefetched: boolean, askedAt: number): Listing {
    const { table, handles } = this.#core;
    const listing = dirs.set(dir.ino, path, entries, generation, prefetched, askedAt);
    if (dirs !== this.#dirs || generation !== dirs.generation(dir.ino) || table.pathOf(dir) !== path) return listing;
    for (const { name, stat } of entries) {
      const child = table.child(dir, name);
      if (child === undefined || child.type !== (stat.mode & S_IFMT)) continue;
      if (stat.ino !== undefined && child.remoteIno !== undefined && stat.ino !== child.remoteIno) continue;
      if (handles.hasWriter(child)) continue;
      this.#attrs.store(child, stat, listing.fetchedAt);
    }
    for (const { name } of entries) this.#negative.delete(dir.ino, name);
    return listing;
  }

  /** A listing read now, or undefined when it failed in a way lstat may answer or the folder changed meanwhile. */
  async #fetchCurrent(dir: Node, path: string): Promise<Listing | undefined> {
    const dirs = this.#dirs;
    const generation = dirs.generation(dir.ino);
    const listing = await this.fetch(dir, path).catch((error: unknown) => {
      if (!LISTING_FALLBACK_ERRORS.has((error as FsError).code)) throw error;
      // Unreadable (a search-only folder) or gone: ask for the name, and keep asking for a while.
      this.#dirs.delete(dir.ino);
      return undefined;
    });
    // Changed through us meanwhile: its listing may predate the change, so ask for the name.
    return dirs === this.#dirs && generation === dirs.generation(dir.ino) ? listing : undefined;
  }

  /**
   * The listing of `dir` brought by a read under way (a subtree), once it is stored (undefined when
   * that read did not bring it); undefined at once when none is under way, with no await.
   */
  #arriving(dir: Node): Promise<Listing | undefined> | undefined {
    return this.#coming(dir)?.then(() => this.#dirs.get(dir.ino));
  }

  /** The listing of `dir` past its lifetime, when the link is down and one is kept. */
  #outdated(dir: Node, forLookup = false): Listing | undefined {
    const listing = forLookup ? this.#dirs.forLookupInOutage(dir.ino) : this.#dirs.stale(dir.ino);
    return listing !== undefined && this.#core.outage.servesStale() ? listing : undefined;
  }

  /** True when a lookup in `dir` (not cached) should read the whole listing rather than lstat one name. */
  #listsForLookup(dir: Node): boolean {
    const { opts } = this.#core;
    const max = opts.listingLookupMaxEntries;
    if (max <= 0 || opts.dirTimeoutMs <= 0 || this.#dirs.recentlyChanged(dir.ino)) return false;
    return (this.#dirs.lastSize(dir.ino) ?? 0) <= max;
  }

  #missing(dir: Node, name: string): undefined {
    this.#core.table.unlinkName(dir, name);
    this.#negative.add(dir.ino, name);
    return undefined;
  }
}
