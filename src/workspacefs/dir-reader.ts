import { direntPlusSize, direntSize, type DirentOut, type DirentPlusOut, type Entry } from '../fuse/operations.ts';
import { S_IFDIR, S_IFMT } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import { placeholderDirStat } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Entries } from './entries.ts';
import type { DirHandle } from './handles.ts';
import type { Node } from './inode-table.ts';
import type { Listings } from './listings.ts';

/**
 * Open folders: each handle keeps a snapshot of the listing, so offsets (entry index + 1, with
 * "." and ".." first) stay valid across readdir calls; offset 0 after a read (rewinddir) takes a
 * new snapshot.
 */
export class DirReader {
  readonly #core: VfsCore;
  readonly #listings: Listings;
  readonly #entries: Entries;

  constructor(core: VfsCore, listings: Listings, entries: Entries) {
    this.#core = core;
    this.#listings = listings;
    this.#entries = entries;
  }

  /** Opens folder `node` and returns its handle number. */
  async open(node: Node): Promise<number> {
    const listing = await this.#listings.listing(node);
    node.opens++;
    return this.#core.handles.addDir({ node, entries: listing.entries, fetchedAt: listing.fetchedAt, read: false });
  }

  /** Entries of handle `fh` from `offset` that fit in `size` bytes, without attributes. */
  async plain(fh: number, offset: number, size: number): Promise<DirentOut[]> {
    const handle = await this.#at(fh, offset, 'readdir');
    const dir = handle.node;
    const out: DirentOut[] = [];
    let used = 0;
    for (let i = offset; i < handle.entries.length + 2; i++) {
      let entry: { name: string; ino: number; mode: number };
      if (i < 2) {
        const node = i === 0 ? dir : this.#entries.parentOf(dir);
        entry = { name: i === 0 ? '.' : '..', ino: node.attr === undefined ? node.ino : this.#entries.shownIno(node.ino, node.attr), mode: S_IFDIR };
      } else {
        const { name, stat } = handle.entries[i - 2]!;
        entry = { name, ino: this.#entries.shownIno(this.#core.table.peekIno(dir, name, stat), stat), mode: stat.mode & S_IFMT };
      }
      used += direntSize(entry.name);
      if (used > size) break;
      out.push({ ...entry, offset: i + 1 });
    }
    return out;
  }

  /** Like {@link plain}, each entry with its attributes; every entry but "." and ".." is a kernel reference. */
  async plus(fh: number, offset: number, size: number): Promise<DirentPlusOut[]> {
    const handle = await this.#at(fh, offset, 'readdirplus');
    const dir = handle.node;
    const out: DirentPlusOut[] = [];
    let used = 0;
    for (let i = offset; i < handle.entries.length + 2; i++) {
      const name = i === 0 ? '.' : i === 1 ? '..' : handle.entries[i - 2]!.name;
      used += direntPlusSize(name);
      if (used > size) break;
      let entry: Entry;
      if (i < 2) {
        const target = i === 0 ? dir : this.#entries.parentOf(dir);
        entry = this.#entries.entryOf(target, target.attr ?? placeholderDirStat());
      } else {
        entry = this.#entries.resolve(dir, name, handle.entries[i - 2]!.stat, handle.fetchedAt);
      }
      out.push({ name, entry, offset: i + 1 });
    }
    return out;
  }

  /** Closes folder handle `fh`. */
  release(fh: number): void {
    const { handles, table } = this.#core;
    const handle = handles.removeDir(fh);
    if (handle === undefined) throw new FsError('EBADF', 'releasedir');
    handle.node.opens--;
    table.maybeDrop(handle.node);
  }

  async #at(fh: number, offset: number, syscall: string): Promise<DirHandle> {
    const handle = this.#core.handles.dir(fh, syscall);
    if (offset === 0 && handle.read) {
      const listing = await this.#listings.listing(handle.node);
      handle.entries = listing.entries;
      handle.fetchedAt = listing.fetchedAt;
    }
    handle.read = true;
    return handle;
  }
}
