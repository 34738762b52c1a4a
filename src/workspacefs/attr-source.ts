import { S_IFMT, type FileStat } from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { Attributes } from './attributes.ts';
import { pathOrEnoent, type VfsCore } from './core.ts';
import type { Node } from './inode-table.ts';
import { LazyFileHandle } from './content-cache.ts';
import type { Listings } from './listings.ts';

/**
 * Where fresh attributes of a node come from, in order: the cache, a listing of its parent, an
 * lstat of its path, and (once orphaned) one of its open handles. Symlink targets likewise.
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
    if (this.#attrs.usable(node)) {
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
      // Read whole and never opened on the remote, it cannot be reached there once its last name is
      // gone: what we last knew of it stands (its link count lowered by the unlink).
      if (file.remote instanceof LazyFileHandle && !file.remote.opened && node.attr !== undefined) return node.attr;
      const stat = await caller.call('handle.stat', file.path, () => file.remote.stat());
      this.#attrs.store(node, stat);
      return stat;
    }
    throw new FsError('ENOENT', 'getattr');
  }

  /** A fresh lstat of the root, stored as its attributes (the id mapping needs its owner). */
  async rootStat(): Promise<FileStat> {
    const { opts, table, caller, client } = this.#core;
    const stat = await caller.call('lstat', opts.root, () => client.lstat(opts.root));
    this.#attrs.store(table.root, stat);
    return stat;
  }

  /** The target of symlink `node`, cached like attributes. */
  async linkTarget(node: Node): Promise<string> {
    const { table, caller, client, counters } = this.#core;
    const cached = this.#attrs.linkTarget(node);
    if (cached !== undefined) {
      counters.cache.readlink.hits++;
      return cached;
    }
    counters.cache.readlink.misses++;
    const path = pathOrEnoent(table, node, 'readlink');
    const target = await caller.call('readlink', path, () => client.readlink(path));
    this.#attrs.storeLinkTarget(node, target);
    return target;
  }
}
