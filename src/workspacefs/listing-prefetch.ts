import { S_IFDIR, S_IFMT, canSubtree, type FileStat, type Subtree, type SubtreeFileClient } from '../remote/file-client.ts';
import type { Attributes } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Listing } from './dir-cache.ts';
import type { Entries } from './entries.ts';
import { IdleSignal } from './idle.ts';
import type { Node } from './inode-table.ts';
import type { ListingRead, Listings } from './listings.ts';

/** A directory to list ahead. */
interface PrefetchJob {
  node: Node;
  /** Levels below it that may be listed ahead once its listing is in. */
  depth: number;
  /** Read its whole subtree in one request instead of its own listing. */
  subtree?: boolean;
}

/**
 * Read-ahead of folder listings: when a request uses a listing, its subfolders are listed in the
 * background (`prefetchConcurrency` at once), so that a tree walk finds them cached. Where the
 * client reads subtrees (the agent), a folder entered on demand has the whole subtree below it
 * read in one request (`subtreeMaxEntries`), and where the walk reaches the edge of what came,
 * each subfolder not yet listed gets its own: a walk of a tree costs a few round trips, not one
 * per folder.
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
  /** Set when the client reads subtrees and the option allows it. */
  readonly #subtrees: SubtreeFileClient | undefined;
  /** Remote paths whose subtree is being read: a folder below one waits for it. */
  readonly #subtreesReading = new Map<string, Promise<void>>();

  constructor(core: VfsCore, attrs: Attributes, listings: Listings, entries: Entries) {
    this.#core = core;
    this.#attrs = attrs;
    this.#listings = listings;
    this.#entries = entries;
    this.#subtrees = core.opts.subtreeMaxEntries > 0 && canSubtree(core.client) ? core.client : undefined;
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
    if (this.#subtrees !== undefined) {
      this.#usedWithSubtrees(dir, listing);
      return;
    }
    if (listing.prefetched) {
      listing.prefetched = false;
      counters.cache.prefetch.hits++;
      this.#expand(dir, listing, opts.prefetchDepth);
    } else if (!listing.expanded) {
      this.#expand(dir, listing, Math.min(2, opts.prefetchDepth));
    }
    listing.expanded = true;
  }

  /**
   * `used` where subtrees come in one request: a listing read on demand gets the subtree below it
   * read; one that came in a subtree (the walk follows) gets a read of each subfolder the
   * subtree did not reach. Nothing while a read of a subtree holding the folder is under way.
   */
  #usedWithSubtrees(dir: Node, listing: Listing): void {
    const { counters, table } = this.#core;
    const hot = listing.prefetched;
    if (hot) {
      listing.prefetched = false;
      counters.cache.prefetch.hits++;
    }
    if (listing.expanded || this.#core.outage.down || table.get(dir.ino) !== dir || table.pathOf(dir) !== listing.path) return;
    if (this.#reading(listing.path)) return;
    listing.expanded = true;
    const unread: Node[] = [];
    for (const { name, stat } of listing.entries) {
      if ((stat.mode & S_IFMT) !== S_IFDIR) continue;
      const node = this.#subfolder(dir, name, stat, listing.fetchedAt);
      if (!this.#listings.known(node.ino) && !this.#queued.has(node.ino) && !this.#listings.recentlyChanged(node.ino)) unread.push(node);
    }
    // The folder's own listing comes again with it: one request instead of one per subfolder.
    if (unread.length === 0) return;
    this.#queueSubtree(dir);
    this.#pump();
  }

  /** The node of subfolder `name` of `dir`, made if new, with its attributes from the listing. */
  #subfolder(dir: Node, name: string, stat: FileStat, fetchedAt: number): Node {
    const known = this.#core.table.child(dir, name);
    if (known !== undefined && known.type === S_IFDIR) return known;
    // A node (no kernel reference yet) gives the listing the number a later lookup will find.
    const node = this.#entries.node(dir, name, stat);
    if (!this.#attrs.fresh(node)) this.#attrs.store(node, stat, fetchedAt);
    return node;
  }

  #queueSubtree(node: Node): void {
    if (this.#queue.length >= this.#core.opts.prefetchQueueMax || this.#queued.has(node.ino)) return;
    this.#queue.push({ node, depth: 0, subtree: true });
    this.#queued.add(node.ino);
  }

  /** True while a subtree read that holds `path` is under way. */
  #reading(path: string): boolean {
    return this.#readingAt(path) !== undefined;
  }

  /**
   * Settles once the subtree read under way that holds folder `dir` is stored; undefined when none
   * is. A request for a folder's listing waits for it rather than asking for the same listing
   * again. Asked on every listing the caches miss: no path is made while nothing is being read.
   */
  reading(dir: Node): Promise<void> | undefined {
    if (this.#subtreesReading.size === 0) return undefined;
    const path = this.#core.table.pathOf(dir);
    return path === undefined ? undefined : this.#readingAt(path);
  }

  #readingAt(path: string): Promise<void> | undefined {
    for (const [top, done] of this.#subtreesReading) {
      if (path === top || path.startsWith(top === '/' ? '/' : `${top}/`)) return done;
    }
    return undefined;
  }

  /**
   * Reads the subtree at `path` (folder `top`) and stores every listing in it that nothing changed
   * through us since the request went out, making nodes for the folders on the way.
   */
  async #readSubtree(client: SubtreeFileClient, top: Node, path: string): Promise<void> {
    const { caller, opts } = this.#core;
    const read = this.#listings.readStarts();
    const asked = caller.call('subtree', path, () => client.subtree(path, { maxEntries: opts.subtreeMaxEntries }));
    const stored = asked.then(tree => this.#storeSubtree(read, top, path, tree));
    const done = stored.then(() => undefined, () => undefined);
    this.#subtreesReading.set(path, done);
    try {
      await stored;
    } finally {
      if (this.#subtreesReading.get(path) === done) this.#subtreesReading.delete(path);
    }
  }

  #storeSubtree(read: ListingRead, top: Node, path: string, tree: Subtree): void {
    const { table } = this.#core;
    // Breadth first: a folder's parent came before it, so its node is known by then.
    const nodes = new Map<string, Node>([[path, top]]);
    for (const folder of tree.folders) {
      let node = nodes.get(folder.path);
      if (node === undefined) {
        const cut = folder.path.lastIndexOf('/');
        const parentPath = cut === 0 ? '/' : folder.path.slice(0, cut);
        const name = folder.path.slice(cut + 1);
        const parent = nodes.get(parentPath);
        const stat = parent === undefined ? undefined : this.#listings.cached(parent.ino)?.byName.get(name);
        if (parent === undefined || stat === undefined || (stat.mode & S_IFMT) !== S_IFDIR || table.get(parent.ino) !== parent) continue;
        node = this.#subfolder(parent, name, stat, read.askedAt);
      }
      // A folder changed through us since the request is left out with all below it.
      if (!this.#listings.storeRead(read, node, folder.path, folder.entries)) continue;
      nodes.set(folder.path, node);
    }
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
      const { node, depth, subtree } = this.#queue.shift()!;
      this.#queued.delete(node.ino);
      if (table.get(node.ino) !== node) continue;
      const path = table.pathOf(node);
      if (path === undefined) continue;
      if (subtree === true && this.#subtrees !== undefined) {
        if (this.#reading(path)) continue;
        this.#active++;
        counters.cache.prefetch.misses++;
        this.#readSubtree(this.#subtrees, node, path)
          .catch(() => undefined)
          .finally(() => {
            this.#active--;
            this.#pump();
          });
        continue;
      }
      if (this.#listings.known(node.ino) || this.#listings.recentlyChanged(node.ino)) continue;
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
