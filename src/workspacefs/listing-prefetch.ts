import { S_IFDIR, S_IFMT } from '../remote/file-client.ts';
import type { Attributes } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Listing } from './dir-cache.ts';
import type { Entries } from './entries.ts';
import { IdleSignal } from './idle.ts';
import type { Node } from './inode-table.ts';
import type { Listings } from './listings.ts';

/** A directory to list ahead. */
interface PrefetchJob {
  node: Node;
  /** Levels below it that may be listed ahead once its listing is in. */
  depth: number;
}

/**
 * Read-ahead of folder listings: when a request uses a listing, its subfolders are listed in the
 * background (`prefetchConcurrency` at once), so that a tree walk finds them cached.
 */
export class ListingPrefetch {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #listings: Listings;
  readonly #entries: Entries;
  /** Written only by `#expand` (push) and `#pump` (shift). */
  #queue: PrefetchJob[] = [];
  /** Inode numbers in `#queue`. */
  readonly #queued = new Set<number>();
  /** Listings being read ahead now. */
  #active = 0;
  readonly #idle = new IdleSignal();

  constructor(core: VfsCore, attrs: Attributes, listings: Listings, entries: Entries) {
    this.#core = core;
    this.#attrs = attrs;
    this.#listings = listings;
    this.#entries = entries;
  }

  /** Resolves once nothing is queued or being read ahead. */
  idle(): Promise<void> {
    return this.#idle.wait(this.#busy);
  }

  /**
   * A request used `listing` of `dir`: the walk is there, so list its subdirectories ahead —
   * `prefetchDepth` levels when it was itself read ahead (the walk follows the read-ahead), at
   * most two for a listing read on demand (`ls` of one folder stops there).
   */
  used(dir: Node, listing: Listing): void {
    const { opts, counters } = this.#core;
    if (listing.prefetched) {
      listing.prefetched = false;
      counters.cache.prefetch.hits++;
      this.#expand(dir, listing, opts.prefetchDepth);
    } else if (!listing.expanded) {
      this.#expand(dir, listing, Math.min(2, opts.prefetchDepth));
    }
    listing.expanded = true;
  }

  get #busy(): boolean {
    return this.#queue.length > 0 || this.#active > 0;
  }

  /** Queues the subdirectories of `dir` (from `listing`) for listing ahead, `depth` levels deep. */
  #expand(dir: Node, listing: Listing, depth: number): void {
    const { opts, table } = this.#core;
    // While the link is down, reads ahead would only queue up behind it.
    if (depth <= 0 || opts.prefetchConcurrency <= 0 || table.get(dir.ino) !== dir || this.#core.outage.down) return;
    if (table.pathOf(dir) !== listing.path) return;
    for (const { name, stat } of listing.entries) {
      if ((stat.mode & S_IFMT) !== S_IFDIR) continue;
      if (this.#queue.length >= opts.prefetchQueueMax) break;
      const known = table.child(dir, name);
      if (known !== undefined && known.type === S_IFDIR) {
        const cached = this.#listings.cached(known.ino);
        // Already listed: the read-ahead goes on below it.
        if (cached !== undefined) this.#expand(known, cached, depth - 1);
        if (cached !== undefined || this.#listings.known(known.ino) || this.#queued.has(known.ino)) continue;
      }
      // A node (no kernel reference yet) gives the listing the number a later lookup will find.
      const node = this.#entries.node(dir, name, stat);
      if (!this.#attrs.fresh(node)) this.#attrs.store(node, stat, listing.fetchedAt);
      if (this.#listings.known(node.ino) || this.#queued.has(node.ino)) continue;
      this.#queue.push({ node, depth });
      this.#queued.add(node.ino);
    }
    this.#pump();
  }

  /** Starts queued read-aheads up to `prefetchConcurrency` at once. Failures are ignored. */
  #pump(): void {
    const { opts, table, counters } = this.#core;
    while (this.#active < opts.prefetchConcurrency && this.#queue.length > 0) {
      const { node, depth } = this.#queue.shift()!;
      this.#queued.delete(node.ino);
      if (table.get(node.ino) !== node || this.#listings.known(node.ino)) continue;
      if (this.#listings.recentlyChanged(node.ino)) continue;
      const path = table.pathOf(node);
      if (path === undefined) continue;
      this.#active++;
      counters.cache.prefetch.misses++;
      this.#listings.fetch(node, path, true)
        .then(listing => {
          if (listing.prefetched) this.#expand(node, listing, depth - 1);
        }, () => undefined)
        .finally(() => {
          this.#active--;
          this.#pump();
        });
    }
    // shift() leaves a large backing array behind; drop it once drained.
    if (!this.#busy) this.#queue = [];
    this.#idle.check(this.#busy);
  }
}
