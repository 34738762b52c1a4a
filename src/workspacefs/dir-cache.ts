import type { DirEntry, FileStat } from '../remote/file-client.ts';

/** One cached listing. */
export interface Listing {
  entries: readonly DirEntry[];
  byName: ReadonlyMap<string, FileStat>;
  /** `now()` when it was read from the remote. */
  fetchedAt: number;
}

/**
 * Directory listings with attributes, per directory inode, until their expiry. A fresh listing
 * answers lookups in that directory too (hit or negative), which is what makes `git status` on a
 * tree cost one readdir per directory.
 */
export class DirCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #listings = new Map<number, { listing: Listing; expires: number }>();

  constructor(ttlMs: number, now: () => number) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** The fresh listing of directory `ino`, if any. */
  get(ino: number): Listing | undefined {
    const cached = this.#listings.get(ino);
    if (cached === undefined) return undefined;
    if (cached.expires > this.#now()) return cached.listing;
    this.#listings.delete(ino);
    return undefined;
  }

  /** Stores a listing just read from the remote and returns it. */
  set(ino: number, entries: readonly DirEntry[]): Listing {
    const fetchedAt = this.#now();
    const listing: Listing = { entries, byName: new Map(entries.map(e => [e.name, e.stat])), fetchedAt };
    if (this.#ttlMs > 0) this.#listings.set(ino, { listing, expires: fetchedAt + this.#ttlMs });
    return listing;
  }

  /** Drops the listing of directory `ino` (something in it changed). */
  delete(ino: number): void {
    this.#listings.delete(ino);
  }
}
