/**
 * Whether the remote's watch keeps the caches right. While it is live, every change on the remote
 * comes as an event that drops what the caches knew of it, so what was read after the watch
 * became live stays right past its lifetime: a warm `find` costs no round trip at all. Opens and
 * names missing from a listing are trusted to the watch only where the mount runs a barrier after
 * each remote command it starts (see {@link CacheWatch.trusts}). Without a
 * watch, or once it is lost, the lifetimes (`cache_timeout`) rule again, and what was read before
 * the watch came back is never trusted to it (the daemon flushes the caches on the rescan that
 * renews it, see {@link CacheWatch.restart}).
 */
export class CacheWatch {
  readonly #now: () => number;
  /** Asked on every use: the subscription's own word (link up, every folder watched). */
  #live: () => boolean = () => false;
  /**
   * `now()` when the watch last became live: only what was read from the remote at or after it
   * is kept by the watch. Infinity while there is no watch.
   */
  #since = Number.POSITIVE_INFINITY;
  /**
   * True when the mount waits for the watch's barrier after every remote command it runs (rmount
   * exec, path stubs) before it says the command ended: what such a command made is then in the
   * caches before the local tool that runs next can ask. Only then may an open skip its
   * close-to-open lstat, or a name missing from a kept listing go unasked.
   */
  #barriers = false;
  /**
   * True when, without a live watch, a name missing from a listing within its lifetime is missing
   * (no `-o cto`), as the kernel's own negative entries are: `git status` and a compiler's include
   * search then cost one listing per folder, not one round trip per name they try.
   */
  #lifetimesTrusted = false;
  /**
   * `now()` when the last remote command the mount ran (rmount exec, a path stub) ended: without a
   * live watch, what was read before it (attributes, listings, content, names found missing) may
   * predate what the command made, so it no longer answers (see {@link valid}).
   */
  #commandEndedAt = Number.NEGATIVE_INFINITY;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A watch now reports every change; `live` says whether it still does. */
  attach(live: () => boolean): void {
    this.#live = live;
    this.#since = this.#now();
  }

  /** The mount runs the watch's barrier after every remote command from now on (see {@link #barriers}). */
  runsBarriers(): void {
    this.#barriers = true;
  }

  /** Without a live watch, names missing from listings within their lifetime are missing (see {@link #lifetimesTrusted}). */
  trustLifetimes(): void {
    this.#lifetimesTrusted = true;
  }

  /** A remote command the mount ran has ended (see {@link #commandEndedAt}). */
  commandEnded(): void {
    this.#commandEndedAt = this.#now();
  }

  /** The watch is renewed (a rescan: events may have been lost), and the caches were just flushed. */
  restart(): void {
    if (this.#since !== Number.POSITIVE_INFINITY) this.#since = this.#now();
  }

  /** True once a watch was attached, live or not: its barrier, not the kernel's leases, covers remote commands. */
  get attached(): boolean {
    return this.#since !== Number.POSITIVE_INFINITY;
  }

  /** True while the watch reports every change. */
  get live(): boolean {
    return this.attached && this.#live();
  }

  /**
   * True while the watch is live and the mount runs barriers: every change, the remote's own and
   * those of the commands the mount runs, comes as an event before anyone here can look. What was
   * read since the watch became live is then trusted ({@link trusts}), and the kernel may keep a
   * folder's entries across opens (FOPEN_CACHE_DIR; Entries.remoteChanged drops them); once this
   * is false, the next open of the folder drops them.
   */
  get trusted(): boolean {
    return this.#barriers && this.live;
  }

  /**
   * True when an entry stored to expire at `expires` under lifetime `ttlMs` may still answer: it is
   * within its lifetime and, without a live watch, was read after the last remote command of ours
   * ended (see {@link afterCommands}); or it was read while the watch was live and the watch still
   * is. A lifetime of 0 (caching turned off) is never extended.
   */
  valid(expires: number, ttlMs: number): boolean {
    if (expires > this.#now()) return this.afterCommands(expires - ttlMs);
    return ttlMs > 0 && this.keeps(expires - ttlMs);
  }

  /** True when what was read from the remote at `fetchedAt` is right still: the watch has reported every change since. */
  keeps(fetchedAt: number): boolean {
    return fetchedAt >= this.#since && this.live;
  }

  /**
   * True when what was read at `fetchedAt` is kept by the watch and the mount runs barriers (see
   * {@link #barriers}): an open need not revalidate it, and a name missing from it is missing.
   */
  trusts(fetchedAt: number): boolean {
    return fetchedAt >= this.#since && this.trusted;
  }

  /**
   * True when a name missing from a listing asked for at `fetchedAt`, still within its lifetime or
   * kept by the watch, is missing: under a live watch as {@link trusts} says; without one where
   * lifetimes are trusted, if no remote command of ours ended since the listing was asked for
   * (strictly later: the clock counts milliseconds).
   */
  trustsMissing(fetchedAt: number): boolean {
    // `live` asks the subscription: once per lookup of a missing name.
    if (this.live) return this.#barriers && fetchedAt >= this.#since;
    return this.#lifetimesTrusted && fetchedAt > this.#commandEndedAt;
  }

  /**
   * False when what was read at `fetchedAt` may lack what a remote command of ours made: no watch
   * is live (its events and barrier cover those commands) and one ended since.
   */
  afterCommands(fetchedAt: number): boolean {
    // The clock first: asking the subscription costs more, and most reads come after.
    return fetchedAt > this.#commandEndedAt || this.live;
  }
}
