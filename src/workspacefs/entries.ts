import type { Entry } from '../fuse/operations.ts';
import { FsError } from '../remote/fs-error.ts';
import { S_IFMT, type FileStat, type WatchEventKind } from '../remote/file-client.ts';
import { placeholderDirStat, type Attributes } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Node } from './inode-table.ts';
import { KernelLeases } from './kernel-leases.ts';
import type { KernelNotices } from './kernel-notices.ts';
import type { Listings } from './listings.ts';

/**
 * The tree bookkeeping done once the remote has answered (go-fuse's bridge): kernel references,
 * the names made, removed, renamed and linked through us, and which caches that makes stale.
 */
export class Entries {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #listings: Listings;
  readonly #notices: KernelNotices;
  /** What the kernel holds of ours, to tell it again after a remote command where no watch does. */
  readonly #leases: KernelLeases;

  constructor(core: VfsCore, attrs: Attributes, listings: Listings, notices: KernelNotices) {
    this.#core = core;
    this.#attrs = attrs;
    this.#listings = listings;
    this.#notices = notices;
    const { opts } = core;
    // Where a watch reports the remote's changes, its barrier tells the kernel what a command changed.
    this.#leases = new KernelLeases(opts.now, Math.max(opts.attrTimeoutMs, opts.entryTimeoutMs, opts.negativeTimeoutMs),
      () => !core.watch.attached);
  }

  /** The kernel was handed `node`'s attributes (a getattr or setattr answer). */
  told(node: Node): void {
    this.#leases.inode(node.ino);
  }

  /**
   * A remote command of ours ended and no watch reports what it changed: the kernel is told to
   * drop what it may still hold from before it (attributes, pages, names of files, names it was
   * told are missing), queued for KernelNotices.flush. The caches here distrust it already
   * (CacheWatch.commandEnded).
   */
  commandEnded(): void {
    const held = this.#leases.take();
    if (held === 'all') {
      this.forgetAll();
      return;
    }
    const { table, handles } = this.#core;
    for (const ino of held.inodes) {
      const node = table.get(ino);
      if (node === undefined) continue;
      // A file open for writing here keeps its pages: they may hold writes not sent yet.
      this.#tellKernel(node, !handles.hasWriter(node));
    }
    for (const { parent, name } of held.missing) this.#notices.entry(parent, name);
  }

  /** The folder ".." of `node` means: one of its parents, or the root for the root and orphans. */
  parentOf(node: Node): Node {
    return node.firstLink()?.parent ?? this.#core.table.root;
  }

  /** The node for `name` in `dir` whose remote attributes are `stat` (a node that held the name before is stale). */
  node(dir: Node, name: string, stat: FileStat): Node {
    const { node, replaced } = this.#core.table.resolve(dir, name, stat);
    if (replaced !== undefined) this.#attrs.expire(replaced);
    return node;
  }

  /** The node for `name` in `dir` with remote attributes `stat`, as a new kernel reference. */
  resolve(dir: Node, name: string, stat: FileStat, fetchedAt?: number): Entry {
    const node = this.node(dir, name, stat);
    // Our own newer knowledge (unsettled writes, a later stat) wins over an older listing.
    if (!this.#attrs.fresh(node) || (fetchedAt === undefined && !this.#core.handles.hasWriter(node))) {
      this.#attrs.store(node, stat, fetchedAt);
    }
    return this.ref(node, node.attr ?? stat);
  }

  /** A new kernel reference to `node`. */
  ref(node: Node, stat: FileStat): Entry {
    this.#core.table.ref(node);
    return this.entryOf(node, stat);
  }

  /** The inode number a file with remote attributes `stat` shows (see Attributes.shownIno). */
  shownIno(own: number, stat: FileStat): number {
    return this.#attrs.shownIno(own, stat);
  }

  /** The entry of `node` without a new reference ("." and ".." in readdirplus). */
  entryOf(node: Node, stat: FileStat): Entry {
    const { opts, outage } = this.#core;
    this.#leases.inode(node.ino);
    return {
      ino: node.ino,
      generation: node.generation,
      attr: this.#attrs.toAttr(node, stat),
      attrTimeout: outage.kernelTimeout(opts.attrTimeoutMs),
      entryTimeout: outage.kernelTimeout(opts.entryTimeoutMs),
    };
  }

  /** A cached "no such name" for the kernel, or ENOENT when negative caching is off. */
  negative(syscall: string, dir: Node, name: string): Entry {
    const { opts, outage } = this.#core;
    if (opts.negativeTimeoutMs <= 0) throw new FsError('ENOENT', syscall);
    this.#leases.missing(dir.ino, name);
    return {
      ino: 0,
      generation: 0,
      attr: this.#attrs.toAttr(undefined, placeholderDirStat()),
      attrTimeout: 0,
      entryTimeout: outage.kernelTimeout(opts.negativeTimeoutMs),
    };
  }

  /** `name` was just made in `dir` (its attributes are not known yet). */
  made(dir: Node, name: string): void {
    this.#listings.unmarkMissing(dir.ino, name);
    this.dirChanged(dir);
  }

  /** After mkdir/symlink/mknod and {@link made}: the new name, with attributes `stat`, as a kernel reference. */
  created(dir: Node, name: string, stat: FileStat): Entry {
    const node = this.node(dir, name, stat);
    if (node.isDir) this.#listings.changed(node.ino);
    this.#attrs.store(node, stat);
    return this.ref(node, stat);
  }

  /**
   * After unlink/rmdir of `name` in `dir` (`folderPath`: the removed folder's path, whose kept
   * listings go too). The node may live on, orphaned, for its open handles.
   */
  removed(dir: Node, name: string, folderPath?: string): void {
    if (folderPath !== undefined) this.#listings.changedUnder(folderPath);
    const node = this.#core.table.unlinkName(dir, name);
    if (node !== undefined) {
      this.#attrs.unlinked(node);
      this.parentsChanged(node);
    }
    this.dirChanged(dir);
    this.#listings.markMissing(dir.ino, name);
  }

  /** After a rename of `from` (`name` in `fromDir`) to `to` (`newName` in `toDir`); a replaced target is orphaned. */
  renamed(fromDir: Node, name: string, toDir: Node, newName: string, from: string, to: string): void {
    if (from === to) return;
    if (this.#core.table.child(fromDir, name)?.isDir !== false) {
      // Listings kept for the old folder's subtree (and a replaced folder's) must not resurface.
      this.#listings.changedUnder(from);
      this.#listings.changedUnder(to);
    }
    const { moved, replaced } = this.#core.table.move(fromDir, name, toDir, newName);
    if (moved !== undefined) this.#attrs.expire(moved);
    if (replaced !== undefined) this.#attrs.expire(replaced);
    this.dirChanged(fromDir);
    this.dirChanged(toDir);
    this.#listings.markMissing(fromDir.ino, name);
    this.#listings.unmarkMissing(toDir.ino, newName);
  }

  /** After a hard link of `node` as `name` in `dir`. */
  linked(node: Node, dir: Node, name: string): void {
    this.#core.table.addLink(node, dir, name);
    this.#listings.unmarkMissing(dir.ino, name);
    this.dirChanged(dir);
    this.parentsChanged(node);
  }

  /** `node`'s attributes changed through us (setattr); `resized` drops read-ahead of its open files. */
  changed(node: Node, resized: boolean): void {
    if (resized) for (const f of this.#core.handles.filesOf(node)) f.dropReadAhead();
    this.#attrs.outdate(node);
    this.parentsChanged(node);
  }

  /** The file was cut to 0 bytes through us. */
  truncated(node: Node): void {
    for (const f of this.#core.handles.filesOf(node)) f.dropReadAhead();
    this.#attrs.truncated(node);
    this.parentsChanged(node);
  }

  /** Something in `dir` changed through us: its listing and its own mtime/nlink are stale. */
  dirChanged(dir: Node): void {
    this.#listings.changed(dir.ino);
    this.#attrs.expire(dir);
  }

  /** `node` changed (size, times, links): listings that show it are stale. */
  parentsChanged(node: Node): void {
    for (const { parent } of node.links.values()) this.#listings.changed(parent.ino);
  }

  /**
   * Remote `path` changed (a watch event, `kinds` saying how when known): what the caches know
   * about it goes, and the kernel is told. Paths outside the root are ignored.
   *
   * The kernel's entry for a name we know is dropped only when the name went away or now names
   * something else (removed, renamed), or, when the kinds are unknown, for what is not a folder:
   * dropping a folder's entry unhashes its dentry, and every process whose current folder it is
   * then gets ENOENT from getcwd ("(deleted)"), as after a mkdir whose own watch echo comes back.
   */
  remoteChanged(path: string, kinds?: readonly WatchEventKind[]): void {
    const found = this.#walk(path);
    if (found === undefined) return;
    const { node, parent, missing, names } = found;
    if (missing !== undefined) {
      this.#listings.changed(node.ino);
      this.#listings.unmarkMissing(node.ino, missing);
      this.#notices.entry(node.ino, missing);
      // A name the kernel never looked up has no entry of its own to drop: the folder's entries
      // the kernel keeps across opens (FOPEN_CACHE_DIR) go with the folder's pages.
      if (node.isDir) this.#notices.inode(node.ino);
      return;
    }
    if (!node.isDir && kinds !== undefined && kinds.every(k => k === 'modify' || k === 'attrib') && this.#core.handles.hasWriter(node)) {
      // Our own writes come back as events while the file is open for writing here. Dropping the
      // kernel's pages for each would make it write back and throw away what it holds for us,
      // every 50 ms. While it is open here our view of it wins anyway; its last close takes the
      // remote's attributes again and drops the pages once (OpenFiles.release), in case a change
      // was someone else's.
      this.#attrs.changeHeld(node);
      if (parent !== undefined) this.#listings.changed(parent.ino);
      return;
    }
    this.#attrs.expire(node);
    this.#listings.changed(node.ino);
    if (parent !== undefined) {
      this.#listings.changed(parent.ino);
      const gone = kinds === undefined ? !node.isDir : kinds.includes('remove') || kinds.includes('rename');
      if (gone) this.#notices.entry(parent.ino, names[names.length - 1]!);
      // The parent's names changed: the entries the kernel keeps for it go too (see above).
      if (kinds === undefined || kinds.some(k => k === 'create' || k === 'remove' || k === 'rename')) this.#notices.inode(parent.ino);
    }
    this.#notices.inode(node.ino);
  }

  /**
   * Drops the cached attributes of remote `path`, not its content, or keeps `stat` as them (the
   * remote's, just read), and tells the kernel to ask again.
   */
  attributesChanged(path: string, stat?: FileStat): void {
    const found = this.#walk(path);
    if (found === undefined || found.missing !== undefined) return;
    const { node } = found;
    if (stat !== undefined && (stat.mode & S_IFMT) === node.type && !this.#core.handles.hasWriter(node)) this.#attrs.store(node, stat, undefined, false);
    else this.#attrs.expireAttributes(node);
    this.#notices.attributes(node.ino);
  }

  /**
   * The node we know at remote `path` (with its parent), or the deepest one we know on the way and
   * the first name below it we do not (`missing`); undefined outside the root.
   */
  #walk(path: string): { node: Node; parent: Node | undefined; missing: string | undefined; names: string[] } | undefined {
    const { table, opts } = this.#core;
    const root = opts.root;
    if (path !== root && !path.startsWith(root === '/' ? '/' : `${root}/`)) return undefined;
    const names = path.slice(root.length).split('/').filter(n => n !== '');
    let node: Node = table.root;
    let parent: Node | undefined;
    for (const name of names) {
      const child = table.child(node, name);
      if (child === undefined) return { node, parent, missing: name, names };
      parent = node;
      node = child;
    }
    return { node, parent, missing: undefined, names };
  }

  /** Drops every cached attribute, listing and missing name, and tells the kernel to do the same. */
  forgetAll(): void {
    this.#listings.reset();
    const pending: Node[] = [this.#core.table.root];
    for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
      this.#attrs.expire(node);
      this.#tellKernel(node, true);
      for (const child of node.children.values()) pending.push(child);
    }
  }

  /**
   * Tells the kernel to drop the attributes of `node` (and its pages, with `pages`) and, for a
   * file, its names. Not a folder's names: that would unhash the current folder of every process
   * in it (see remoteChanged); its listing is dropped here instead.
   */
  #tellKernel(node: Node, pages: boolean): void {
    if (pages) this.#notices.inode(node.ino);
    else this.#notices.attributes(node.ino);
    if (!node.isDir) for (const { parent, name } of node.links.values()) this.#notices.entry(parent.ino, name);
  }
}
