import { ROOT_INO } from '../fuse/operations.ts';
import { S_IFDIR, S_IFMT, type FileStat } from '../remote/file-client.ts';

/** One name a node is known by: `name` inside directory `parent`. */
export interface Link {
  parent: Node;
  name: string;
}

/**
 * The names of one node. Nearly every node has exactly one, so it is held inline and a map is made
 * only for the second name of a hard link: a walk of 100,000 files holds 100,000 of these.
 */
export class LinkSet {
  #first: Link | undefined;
  /** Every name once there are two or more; then `#first` is unused. */
  #all: Map<string, Link> | undefined;

  /** How many names. */
  get size(): number {
    return this.#all?.size ?? (this.#first === undefined ? 0 : 1);
  }

  /** Adds the name `name` in `parent` (again: nothing changes). */
  add(parent: Node, name: string): void {
    if (this.#all !== undefined) {
      this.#all.set(linkKey(parent, name), { parent, name });
    } else if (this.#first === undefined || (this.#first.parent === parent && this.#first.name === name)) {
      this.#first = { parent, name };
    } else {
      this.#all = new Map([[linkKey(this.#first.parent, this.#first.name), this.#first], [linkKey(parent, name), { parent, name }]]);
      this.#first = undefined;
    }
  }

  /** Removes the name `name` in `parent`, if held. */
  remove(parent: Node, name: string): void {
    if (this.#all !== undefined) {
      this.#all.delete(linkKey(parent, name));
    } else if (this.#first?.parent === parent && this.#first.name === name) {
      this.#first = undefined;
    }
  }

  /** Removes every name. */
  clear(): void {
    this.#first = undefined;
    this.#all = undefined;
  }

  /** Every name. */
  *values(): IterableIterator<Link> {
    if (this.#all !== undefined) yield* this.#all.values();
    else if (this.#first !== undefined) yield this.#first;
  }
}

/** The children of a node that is not a folder: always empty, shared, never written. */
class NoChildren extends Map<string, Node> {
  override set(): this {
    throw new Error('a node that is not a folder has no children');
  }
}
const NO_CHILDREN = new NoChildren();

/**
 * One inode as the kernel knows it. The node keeps its names ({parent, name}), never a path:
 * the path is derived, so renaming a directory touches one node and its subtree follows.
 */
export class Node {
  /** Our inode number (not the remote's). */
  readonly ino: number;
  readonly generation: number;
  /** S_IFMT bits; an inode number never changes type. */
  readonly type: number;
  /** The remote's inode number when the FileClient reports one (hard links share it). */
  remoteIno: number | undefined;
  /** Names of this node, keyed by `linkKey`; empty when orphaned (unlinked or replaced while referenced). Written only by InodeTable. */
  readonly links = new LinkSet();
  /** Children known to the table, by name (folders only; other nodes share one empty map). */
  readonly children: Map<string, Node>;
  /** Kernel references (lookup counts). Written only by InodeTable (ref, forget). */
  lookups = 0;
  /** Open file and directory handles on this node. Written only by OpenFiles and DirReader. */
  opens = 0;
  /**
   * Cached attributes (remote view, ids unmapped) and when they expire (`now()` ms); while the
   * link is down they answer past that. Written only by Attributes (attributes.ts), like the
   * three fields below.
   */
  attr: FileStat | undefined;
  attrExpires = 0;
  /** True when `attr` came from the remote; false after we patched it for our own mutation. */
  attrFromRemote = false;
  /**
   * The attributes the remote last gave for this node, whatever we showed since: a size or mtime
   * that differs from them says the file changed there, and the kernel must drop its pages (it
   * does not on its own, see native/fuse/ops.c). Written only by Attributes.
   */
  remoteAttr: FileStat | undefined;
  /**
   * True once a setattr of ours made `attr` wrong (expired, not patched): not answered even while
   * the link is down, so the FileClient (a write-back journal answers without the link) is asked.
   */
  attrOutdated = false;
  /** Cached symlink target and its expiry. Written only by Attributes. */
  linkTarget: string | undefined;
  linkTargetExpires = 0;

  constructor(ino: number, generation: number, type: number) {
    this.ino = ino;
    this.generation = generation;
    this.type = type;
    this.children = type === S_IFDIR ? new Map() : NO_CHILDREN;
  }

  /** True for a directory node. */
  get isDir(): boolean {
    return this.type === S_IFDIR;
  }

  /** Any one of the node's names; undefined when orphaned. */
  firstLink(): Link | undefined {
    for (const link of this.links.values()) return link;
    return undefined;
  }
}

/** Remembered number of an inode the kernel forgot, so the same file gets the same number again. */
interface Retired {
  ino: number;
  generation: number;
  type: number;
}

/** How many forgotten paths keep their numbers (oldest go first). */
const RETIRED_MAX = 1 << 20;
/** Guard against a corrupt parent chain when deriving a path. */
const MAX_DEPTH = 4096;

function linkKey(parent: Node, name: string): string {
  return `${parent.ino}/${name}`;
}

/** Joins a directory path and a name. */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * The inode table: our numbers ↔ nodes, lookup counts and forget. Numbers are allocated by us;
 * a file the remote identifies by `ino` keeps one number under every name (hard links). Where the
 * remote gives no numbers, ours are what `stat` shows, so a path keeps its number for the life of
 * the mount even after the kernel forgets it; a file the remote numbers is let go entirely.
 */
export class InodeTable {
  readonly root: Node;
  readonly rootPath: string;
  readonly #byIno = new Map<number, Node>();
  readonly #byRemoteIno = new Map<number, Node>();
  readonly #retiredByPath = new Map<string, Retired>();
  /** Hears of every folder node let go (set once by the VFS's wiring: its listing may go too). */
  onFolderDropped: ((node: Node) => void) | undefined;
  #nextIno = ROOT_INO + 1;

  constructor(rootPath: string) {
    this.rootPath = rootPath;
    this.root = new Node(ROOT_INO, 1, S_IFDIR);
    this.#byIno.set(ROOT_INO, this.root);
  }

  /** Number of live nodes, root included. */
  get size(): number {
    return this.#byIno.size;
  }

  /** The live node with our number `ino`. */
  get(ino: number): Node | undefined {
    return this.#byIno.get(ino);
  }

  /** The remote path of `node`, or undefined when it (or an ancestor) has no name any more. */
  pathOf(node: Node): string | undefined {
    const names: string[] = [];
    let current = node;
    for (let depth = 0; current !== this.root; depth++) {
      const link = current.firstLink();
      if (link === undefined || depth > MAX_DEPTH) return undefined;
      names.push(link.name);
      current = link.parent;
    }
    let path = this.rootPath;
    for (let i = names.length - 1; i >= 0; i--) path = joinPath(path, names[i]!);
    return path;
  }

  /** The node known as `name` in `parent`, if the table holds one. */
  child(parent: Node, name: string): Node | undefined {
    return parent.children.get(name);
  }

  /**
   * The node for `name` in `parent` whose remote attributes are `stat`: the existing one when it
   * is still the same file, the node of the same remote inode (a hard link), or a new node.
   * Returns `replaced` when a different node held the name before (the remote changed under us).
   */
  resolve(parent: Node, name: string, stat: FileStat): { node: Node; replaced: Node | undefined } {
    const type = stat.mode & S_IFMT;
    const existing = parent.children.get(name);
    if (existing !== undefined && existing.type === type
      && (stat.ino === undefined || existing.remoteIno === undefined || existing.remoteIno === stat.ino)) {
      if (stat.ino !== undefined && existing.remoteIno === undefined) this.#setRemoteIno(existing, stat.ino);
      return { node: existing, replaced: undefined };
    }
    if (existing !== undefined) this.unlinkName(parent, name);
    let node: Node | undefined;
    if (stat.ino !== undefined) {
      const same = this.#byRemoteIno.get(stat.ino);
      if (same !== undefined && same.type === type) node = same;
    }
    node ??= this.#create(this.#pathIn(parent, name), type, stat.ino);
    this.addLink(node, parent, name);
    return { node, replaced: existing };
  }

  /**
   * The number `name` in `parent` has or will have, without making a node (plain readdir).
   * The number is reserved so a later lookup of that name gets the same one.
   */
  peekIno(parent: Node, name: string, stat: FileStat): number {
    const type = stat.mode & S_IFMT;
    const existing = parent.children.get(name);
    if (existing !== undefined && existing.type === type) return existing.ino;
    if (stat.ino !== undefined) {
      const same = this.#byRemoteIno.get(stat.ino);
      if (same !== undefined && same.type === type) return same.ino;
    }
    // A file the remote numbers shows that number in readdir: nothing to reserve.
    if (stat.ino !== undefined) return this.#nextIno;
    const path = this.#pathIn(parent, name);
    const retired = this.#reusable(path, type);
    if (retired !== undefined) return retired.ino;
    const reserved: Retired = { ino: this.#nextIno++, generation: 1, type };
    if (path !== undefined) this.#retire(path, reserved);
    return reserved.ino;
  }

  /** Gives `node` the name `name` in `parent`, taking the name from whichever node held it. */
  addLink(node: Node, parent: Node, name: string): void {
    const holder = parent.children.get(name);
    if (holder === node) return;
    if (holder !== undefined) this.unlinkName(parent, name);
    node.links.add(parent, name);
    parent.children.set(name, node);
  }

  /** Removes the name `name` from `parent`; the node that had it is returned (maybe orphaned now). */
  unlinkName(parent: Node, name: string): Node | undefined {
    const node = parent.children.get(name);
    if (node === undefined) return undefined;
    parent.children.delete(name);
    node.links.remove(parent, name);
    this.maybeDrop(node);
    this.maybeDrop(parent);
    return node;
  }

  /**
   * Moves the name `oldName` in `oldParent` to `newName` in `newParent` (a rename done remotely).
   * A node that held the new name loses it and is returned as `replaced`.
   */
  move(oldParent: Node, oldName: string, newParent: Node, newName: string): { moved: Node | undefined; replaced: Node | undefined } {
    const moved = oldParent.children.get(oldName);
    let replaced = newParent.children.get(newName);
    if (replaced === moved) replaced = undefined;
    if (replaced !== undefined) this.unlinkName(newParent, newName);
    if (moved !== undefined) {
      oldParent.children.delete(oldName);
      moved.links.remove(oldParent, oldName);
      this.addLink(moved, newParent, newName);
      this.maybeDrop(oldParent);
    }
    return { moved, replaced };
  }

  /** Adds `n` kernel references to `node`. */
  ref(node: Node, n = 1): void {
    node.lookups += n;
  }

  /** The kernel dropped `n` references (forget). The node goes once nothing refers to it. */
  forget(ino: number, n: number): void {
    const node = this.#byIno.get(ino);
    if (node === undefined || node === this.root) return;
    node.lookups = Math.max(0, node.lookups - n);
    this.maybeDrop(node);
  }

  /**
   * Drops `node` from the table when the kernel holds no reference, no handle is open and no child
   * is known; its number is remembered under its path. Parents left unreferenced follow.
   */
  maybeDrop(node: Node): void {
    if (node === this.root || node.lookups > 0 || node.opens > 0 || node.children.size > 0) return;
    if (this.#byIno.get(node.ino) !== node) return;
    if (node.remoteIno === undefined) {
      // Our number is the file's st_ino: the same path gets it back. A file the remote numbers
      // shows the remote's number whatever node it gets, so nothing is kept once it is forgotten.
      const retired: Retired = { ino: node.ino, generation: node.generation, type: node.type };
      for (const link of node.links.values()) {
        const path = this.pathOf(link.parent);
        if (path !== undefined) this.#retire(joinPath(path, link.name), retired);
      }
    } else if (this.#byRemoteIno.get(node.remoteIno) === node) {
      this.#byRemoteIno.delete(node.remoteIno);
    }
    this.#byIno.delete(node.ino);
    const parents = [...node.links.values()];
    for (const { parent, name } of parents) {
      if (parent.children.get(name) === node) parent.children.delete(name);
    }
    node.links.clear();
    if (node.isDir) this.onFolderDropped?.(node);
    for (const { parent } of parents) this.maybeDrop(parent);
  }

  #pathIn(parent: Node, name: string): string | undefined {
    const dir = this.pathOf(parent);
    return dir === undefined ? undefined : joinPath(dir, name);
  }

  #create(path: string | undefined, type: number, remoteIno: number | undefined): Node {
    // Only numbers of files the remote does not number are remembered (see maybeDrop).
    const retired = remoteIno === undefined ? this.#reusable(path, type) : undefined;
    const node = retired !== undefined
      ? new Node(retired.ino, retired.generation, type)
      : new Node(this.#nextIno++, 1, type);
    this.#byIno.set(node.ino, node);
    if (remoteIno !== undefined) this.#setRemoteIno(node, remoteIno);
    return node;
  }

  /** A remembered number usable for this file, if it is not live under another node. */
  #reusable(path: string | undefined, type: number): Retired | undefined {
    const r = path === undefined ? undefined : this.#retiredByPath.get(path);
    if (r === undefined || r.type !== type || this.#byIno.has(r.ino)) return undefined;
    return r;
  }

  #setRemoteIno(node: Node, remoteIno: number): void {
    node.remoteIno = remoteIno;
    this.#byRemoteIno.set(remoteIno, node);
  }

  #retire(path: string, retired: Retired): void {
    this.#retiredByPath.delete(path);
    this.#retiredByPath.set(path, retired);
    this.#trim(this.#retiredByPath);
  }

  #trim<K>(map: Map<K, Retired>): void {
    if (map.size <= RETIRED_MAX) return;
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}
