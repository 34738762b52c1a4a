import type { DirEntry, FileStat } from '../remote/file-client.ts';
import type { CacheWatch } from './cache-watch.ts';

/** One cached listing. */
export interface Listing {
  entries: readonly DirEntry[];
  byName: ReadonlyMap<string, FileStat>;
  /** `now()` when it was read from the remote. */
  fetchedAt: number;
  /** The remote path it was read from. */
  path: string;
  /**
   * True while the listing was read ahead (prefetch) and nothing has used it yet. The first use
   * clears it and lets the prefetch go one level deeper (the walk is "hot" there).
   */
  prefetched: boolean;
  /** True once its subdirectories were queued for read-ahead on behalf of a request. */
  expanded: boolean;
}

/** Most listings kept; the oldest go first (each also expires after the TTL). */
const MAX_LISTINGS = 20_000;
/**
 * Most entries kept over all listings (each with its attributes, a few hundred bytes): listings
 * stay past their lifetime to answer while the link is down, and a walk of a large tree must not
 * pin every entry it saw.
 */
const MAX_ENTRIES = 200_000;
/** Listings kept from before a change, for lookups during an outage. */
const MAX_BEFORE_CHANGE = 1_000;

/**
 * Directory listings with attributes, per directory inode, until their expiry. A fresh listing
 * answers lookups in that directory too (hit or negative), which is what makes `git status` on a
 * tree cost one readdir per directory.
 *
 * It also remembers, per directory, a generation bumped by every `delete` (so a listing read
 * while the directory changed through us is not stored), when it was last changed through us (a
 * directory being written to is looked up name by name, not re-listed after every change), and
 * how many entries it had (very large directories are looked up name by name).
 */
export class DirCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Keeps listings read while it is live past their lifetime. */
  readonly #watch: CacheWatch | undefined;
  readonly #listings = new Map<number, { listing: Listing; expires: number }>();
  /** Per folder, the `#sequence` of its last change (so one read of many folders can tell which changed since). */
  readonly #generations = new Map<number, number>();
  /** Bumped by every `delete`. */
  #sequence = 0;
  readonly #changedAt = new Map<number, number>();
  readonly #sizes = new Map<number, number>();
  /**
   * The last listing of folders changed through us, for lookups while the link is down only: a
   * name missing from it is missing still unless we made it (the inode table knows those). So a
   * save into a folder being written to goes on during an outage. Bounded; never for readdir.
   */
  readonly #beforeChange = new Map<number, Listing>();
  /** Entries over every kept listing. */
  #entryCount = 0;

  constructor(ttlMs: number, now: () => number, watch?: CacheWatch) {
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#watch = watch;
  }

  /** The fresh listing of directory `ino` (within its lifetime or kept by the watch), if any. */
  get(ino: number): Listing | undefined {
    const cached = this.#listings.get(ino);
    if (cached === undefined) return undefined;
    const fresh = this.#watch === undefined ? cached.expires > this.#now() : this.#watch.valid(cached.expires, this.#ttlMs);
    return fresh ? cached.listing : undefined;
  }

  /**
   * The listing of `ino` whatever its age, for answers while the link is down. Expired listings
   * stay until replaced, dropped by a change, or trimmed (expired ones first).
   */
  stale(ino: number): Listing | undefined {
    return this.#listings.get(ino)?.listing;
  }

  /** The listing of `ino` for a lookup while the link is down: the kept one, else the last before a change. */
  forLookupInOutage(ino: number): Listing | undefined {
    return this.#listings.get(ino)?.listing ?? this.#beforeChange.get(ino);
  }

  /** True when a fresh listing of `ino` is cached (no side effect on counters or prefetch state). */
  has(ino: number): boolean {
    return this.get(ino) !== undefined;
  }

  /**
   * Makes a listing of `entries` just read from the remote; it is stored only when `generation`
   * (from {@link generation} before the read started) is still current. Returns it either way.
   */
  set(ino: number, path: string, entries: readonly DirEntry[], generation = this.generation(ino), prefetched = false,
    fetchedAt = this.#now()): Listing {
    const listing: Listing = { entries, byName: new Map(entries.map(e => [e.name, e.stat])), fetchedAt, path, prefetched, expanded: false };
    this.#sizes.set(ino, entries.length);
    if (this.#ttlMs > 0 && generation === this.generation(ino)) {
      this.#drop(ino);
      this.#beforeChange.delete(ino);
      this.#listings.set(ino, { listing, expires: fetchedAt + this.#ttlMs });
      this.#entryCount += entries.length;
      this.#trim();
    }
    return listing;
  }

  /** Drops the listing of directory `ino` (something in it changed). */
  delete(ino: number, keepForOutage = true): void {
    const cached = this.#listings.get(ino)?.listing;
    if (keepForOutage && cached !== undefined) {
      this.#beforeChange.delete(ino);
      this.#beforeChange.set(ino, cached);
      if (this.#beforeChange.size > MAX_BEFORE_CHANGE) this.#beforeChange.delete(this.#beforeChange.keys().next().value!);
    }
    this.#drop(ino);
    this.#generations.set(ino, ++this.#sequence);
    this.#changedAt.delete(ino);
    this.#changedAt.set(ino, this.#now());
    if (this.#changedAt.size > MAX_LISTINGS) this.#changedAt.delete(this.#changedAt.keys().next().value!);
  }

  /**
   * Drops the listings read from `path` or below it (a folder was renamed or removed through us:
   * listings kept under numbers its former descendants had must not show up for new folders).
   */
  deleteUnder(path: string): void {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const [ino, { listing }] of this.#listings) {
      if (listing.path === path || listing.path.startsWith(prefix)) this.delete(ino, false);
    }
    for (const [ino, listing] of this.#beforeChange) {
      if (listing.path === path || listing.path.startsWith(prefix)) this.#beforeChange.delete(ino);
    }
  }

  /** When `ino` last changed, as a value of {@link sequence}; 0 if never (see {@link set}). */
  generation(ino: number): number {
    return this.#generations.get(ino) ?? 0;
  }

  /** Grows with every change of any folder: a folder whose generation is above a value taken earlier changed since. */
  get sequence(): number {
    return this.#sequence;
  }

  /** True when `ino` changed through us (or was reported changed) within the TTL. */
  recentlyChanged(ino: number): boolean {
    const at = this.#changedAt.get(ino);
    if (at === undefined) return false;
    if (this.#now() - at < Math.max(this.#ttlMs, 1)) return true;
    this.#changedAt.delete(ino);
    return false;
  }

  /** Entries in the last listing read of `ino`, if any. */
  lastSize(ino: number): number | undefined {
    return this.#sizes.get(ino);
  }

  /** Listings kept and their entries, for `rmount status`. */
  size(): { listings: number; entries: number } {
    return { listings: this.#listings.size, entries: this.#entryCount };
  }

  /**
   * The kernel forgot folder `ino`: a listing past its lifetime goes too (a fresh one stays, it
   * answers the lookups that follow), so memory comes back once the kernel lets go. One kept only
   * by the watch goes as well: the next walk reads it again in one request, and memory must not
   * grow with every folder ever walked.
   */
  forgotten(ino: number): void {
    this.#beforeChange.delete(ino);
    const cached = this.#listings.get(ino);
    if (cached !== undefined && cached.expires <= this.#now()) this.#drop(ino);
    this.#sizes.delete(ino);
  }

  #drop(ino: number): void {
    const cached = this.#listings.get(ino);
    if (cached === undefined) return;
    this.#listings.delete(ino);
    this.#entryCount -= cached.listing.entries.length;
  }

  /** Oldest listings go while there are too many or they hold too many entries. */
  #trim(): void {
    for (const ino of this.#listings.keys()) {
      if (this.#listings.size <= MAX_LISTINGS && this.#entryCount <= MAX_ENTRIES) break;
      this.#drop(ino);
    }
    if (this.#sizes.size > MAX_LISTINGS * 4) this.#sizes.clear();
  }
}
