import { S_IFMT, type FileStat } from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { Attributes } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Node } from './inode-table.ts';
import type { Listings } from './listings.ts';

/**
 * Where fresh attributes of a node come from, in order: the cache, a listing of its parent, an
 * lstat of its path, and (once orphaned) one of its open handles.
 */
export class AttrSource {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #listings: Listings;

  constructor(core: VfsCore, attrs: Attributes, listings: Listings) {
    this.#core = core;
    this.#attrs = attrs;
    this.#listings = listings;
  }

  /** Fresh attributes of `node`. @throws FsError ENOENT when no name or handle reaches it any more. */
  async get(node: Node): Promise<FileStat> {
    const { table, caller, client, handles, counters } = this.#core;
    if (this.#attrs.fresh(node)) {
      counters.cache.attr.hits++;
      return node.attr!;
    }
    counters.cache.attr.misses++;
    for (;;) {
      const path = table.pathOf(node);
      if (path === undefined) break;
      const fromListing = await this.#listings.attrOf(node);
      if (fromListing === 'gone') {
        this.#listings.vanished(node);
        continue;
      }
      if (fromListing !== undefined) return fromListing;
      try {
        const stat = await caller.call('lstat', path, () => client.lstat(path));
        if ((stat.mode & S_IFMT) !== node.type) throw new FsError('ENOENT', 'lstat', path);
        this.#attrs.store(node, stat);
        return stat;
      } catch (error) {
        if ((!isFsError(error, 'ENOENT') && !isFsError(error, 'ENOTDIR')) || node === table.root) throw error;
        // Gone on the server (or replaced by another type): drop that name, try the node's other names.
        this.#listings.vanished(node);
      }
    }
    const file = handles.filesOf(node)[0];
    if (file !== undefined) {
      const stat = await caller.call('handle.stat', file.path, () => file.remote.stat());
      this.#attrs.store(node, stat);
      return stat;
    }
    throw new FsError('ENOENT', 'getattr');
  }
}
