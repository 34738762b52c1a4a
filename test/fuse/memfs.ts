import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type StatFs } from '../../src/remote/file-client.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import {
  RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_INO, direntPlusSize, direntSize,
  type Attr, type AttrReply, type CreateReply, type DirentOut, type DirentPlusOut, type Entry, type FuseOperations,
  type OpenReply, type SetattrIn,
} from '../../src/fuse/operations.ts';

interface Node {
  ino: number;
  mode: number;
  nlink: number;
  data: Buffer;
  target?: string;
  children?: Map<string, number>;
  parent: number;
  mtime: number;
}

/**
 * A tiny in-memory FuseOperations for mount tests: files, folders, symlinks, hard links, lookup
 * counts. `timeout` is the kernel cache lifetime of every entry and attribute.
 */
export class MemoryFs implements FuseOperations {
  readonly nodes = new Map<number, Node>();
  /** Kernel references per inode (lookups minus forgets). */
  readonly refs = new Map<number, number>();
  readonly calls: string[] = [];
  /** Open files with direct_io, so that every read reaches the filesystem. */
  directIo = false;
  #next = ROOT_INO + 1;
  #fh = 1;

  constructor(readonly timeout = 1) {
    this.nodes.set(ROOT_INO, { ino: ROOT_INO, mode: S_IFDIR | 0o755, nlink: 2, data: Buffer.alloc(0), children: new Map(), parent: ROOT_INO, mtime: now() });
  }

  /** Adds a file or folder behind the kernel's back; returns its inode. */
  add(parent: number, name: string, content: string | null, mode?: number): number {
    const ino = this.#next++;
    const dir = content === null;
    this.nodes.set(ino, {
      ino, mode: mode ?? (dir ? S_IFDIR | 0o755 : S_IFREG | 0o644), nlink: dir ? 2 : 1,
      data: Buffer.from(content ?? ''), children: dir ? new Map() : undefined, parent, mtime: now(),
    });
    this.#dir(parent).set(name, ino);
    return ino;
  }

  #get(ino: number, syscall: string): Node {
    const node = this.nodes.get(ino);
    if (node === undefined) throw new FsError('ENOENT', syscall);
    return node;
  }

  #dir(ino: number, syscall = 'lookup'): Map<string, number> {
    const node = this.#get(ino, syscall);
    if (node.children === undefined) throw new FsError('ENOTDIR', syscall);
    return node.children;
  }

  #attr(node: Node): Attr {
    const t = { sec: Math.floor(node.mtime / 1000), nsec: (node.mtime % 1000) * 1e6 };
    return {
      ino: node.ino, mode: node.mode, nlink: node.nlink, uid: 0, gid: 0, rdev: 0, size: node.data.length,
      blksize: 4096, blocks: Math.ceil(node.data.length / 512), atime: t, mtime: t, ctime: t,
    };
  }

  #entry(node: Node): Entry {
    this.refs.set(node.ino, (this.refs.get(node.ino) ?? 0) + 1);
    return { ino: node.ino, generation: 0, attr: this.#attr(node), attrTimeout: this.timeout, entryTimeout: this.timeout };
  }

  #make(parent: number, name: string, mode: number, syscall: string, extra: Partial<Node> = {}): Node {
    const dir = this.#dir(parent, syscall);
    if (dir.has(name)) throw new FsError('EEXIST', syscall, name);
    const node: Node = { ino: this.#next++, mode, nlink: 1, data: Buffer.alloc(0), parent, mtime: now(), ...extra };
    this.nodes.set(node.ino, node);
    dir.set(name, node.ino);
    return node;
  }

  async lookup(parent: number, name: string): Promise<Entry> {
    this.calls.push(`lookup ${name}`);
    const ino = this.#dir(parent).get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'lookup', name);
    return this.#entry(this.#get(ino, 'lookup'));
  }

  forget(ino: number, nlookup: number): void {
    this.refs.set(ino, (this.refs.get(ino) ?? 0) - nlookup);
  }

  async getattr(ino: number): Promise<AttrReply> {
    this.calls.push(`getattr ${ino}`);
    return { attr: this.#attr(this.#get(ino, 'getattr')), timeout: this.timeout };
  }

  async setattr(ino: number, changes: SetattrIn): Promise<AttrReply> {
    const node = this.#get(ino, 'setattr');
    if (changes.mode !== undefined) node.mode = (node.mode & S_IFMT) | (changes.mode & 0o7777);
    if (changes.size !== undefined) {
      const data = Buffer.alloc(changes.size);
      node.data.copy(data, 0, 0, Math.min(changes.size, node.data.length));
      node.data = data;
    }
    if (changes.mtime !== undefined) node.mtime = changes.mtime === 'now' ? now() : changes.mtime.sec * 1000;
    return { attr: this.#attr(node), timeout: this.timeout };
  }

  async readlink(ino: number): Promise<string> {
    const node = this.#get(ino, 'readlink');
    if (node.target === undefined) throw new FsError('EINVAL', 'readlink');
    return node.target;
  }

  async mkdir(parent: number, name: string, mode: number): Promise<Entry> {
    const node = this.#make(parent, name, S_IFDIR | (mode & 0o7777), 'mkdir', { children: new Map(), nlink: 2 });
    return this.#entry(node);
  }

  async unlink(parent: number, name: string): Promise<void> {
    const dir = this.#dir(parent, 'unlink');
    const ino = dir.get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'unlink', name);
    if (this.#get(ino, 'unlink').children) throw new FsError('EISDIR', 'unlink', name);
    dir.delete(name);
    this.#get(ino, 'unlink').nlink--;
  }

  async rmdir(parent: number, name: string): Promise<void> {
    const dir = this.#dir(parent, 'rmdir');
    const ino = dir.get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'rmdir', name);
    const node = this.#get(ino, 'rmdir');
    if (!node.children) throw new FsError('ENOTDIR', 'rmdir', name);
    if (node.children.size > 0) throw new FsError('ENOTEMPTY', 'rmdir', name);
    dir.delete(name);
  }

  async symlink(target: string, parent: number, name: string): Promise<Entry> {
    return this.#entry(this.#make(parent, name, S_IFLNK | 0o777, 'symlink', { target, data: Buffer.from(target) }));
  }

  async rename(parent: number, name: string, newParent: number, newName: string, flags: number): Promise<void> {
    const from = this.#dir(parent, 'rename');
    const to = this.#dir(newParent, 'rename');
    const ino = from.get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'rename', name);
    if (flags & RENAME_EXCHANGE) throw new FsError('EINVAL', 'rename');
    if (flags & RENAME_NOREPLACE && to.has(newName)) throw new FsError('EEXIST', 'rename', newName);
    from.delete(name);
    to.set(newName, ino);
  }

  async link(ino: number, newParent: number, newName: string): Promise<Entry> {
    const node = this.#get(ino, 'link');
    const dir = this.#dir(newParent, 'link');
    if (dir.has(newName)) throw new FsError('EEXIST', 'link', newName);
    dir.set(newName, ino);
    node.nlink++;
    return this.#entry(node);
  }

  async open(ino: number, flags: number): Promise<OpenReply> {
    const node = this.#get(ino, 'open');
    if (flags & 0o1000) node.data = Buffer.alloc(0); // O_TRUNC (atomic_o_trunc)
    return { fh: this.#fh++, directIo: this.directIo };
  }

  async read(ino: number, _fh: number, offset: number, size: number): Promise<Uint8Array> {
    this.calls.push(`read ${ino}`);
    return this.#get(ino, 'read').data.subarray(offset, offset + size);
  }

  async write(ino: number, _fh: number, data: Buffer, offset: number): Promise<number> {
    const node = this.#get(ino, 'write');
    if (offset + data.length > node.data.length) {
      const grown = Buffer.alloc(offset + data.length);
      node.data.copy(grown);
      node.data = grown;
    }
    data.copy(node.data, offset);
    node.mtime = now();
    return data.length;
  }

  async flush(): Promise<void> {}
  async release(): Promise<void> {}
  async fsync(): Promise<void> {}
  async releasedir(): Promise<void> {}

  async opendir(ino: number): Promise<OpenReply> {
    this.#dir(ino, 'opendir');
    return { fh: this.#fh++ };
  }

  #list(ino: number): Array<[string, Node]> {
    const node = this.#get(ino, 'readdir');
    const list: Array<[string, Node]> = [['.', node], ['..', this.#get(node.parent, 'readdir')]];
    for (const [name, child] of this.#dir(ino, 'readdir')) list.push([name, this.#get(child, 'readdir')]);
    return list;
  }

  async readdir(ino: number, _fh: number, offset: number, size: number): Promise<DirentOut[]> {
    const out: DirentOut[] = [];
    for (const [i, [name, node]] of this.#list(ino).entries()) {
      if (i < offset) continue;
      if ((size -= direntSize(name)) < 0) break;
      out.push({ name, ino: node.ino, mode: node.mode, offset: i + 1 });
    }
    return out;
  }

  async readdirplus(ino: number, _fh: number, offset: number, size: number): Promise<DirentPlusOut[]> {
    this.calls.push(`readdirplus ${ino}`);
    const out: DirentPlusOut[] = [];
    for (const [i, [name, node]] of this.#list(ino).entries()) {
      if (i < offset) continue;
      if ((size -= direntPlusSize(name)) < 0) break;
      const entry = name === '.' || name === '..'
        ? { ino: node.ino, generation: 0, attr: this.#attr(node), attrTimeout: this.timeout, entryTimeout: this.timeout }
        : this.#entry(node);
      out.push({ name, entry, offset: i + 1 });
    }
    return out;
  }

  async statfs(): Promise<StatFs> {
    return { bsize: 4096, frsize: 4096, blocks: 1000, bfree: 500, bavail: 500, files: 100, ffree: 50, favail: 50, flag: 0, namemax: 255 };
  }

  async create(parent: number, name: string, mode: number): Promise<CreateReply> {
    const node = this.#make(parent, name, S_IFREG | (mode & 0o7777), 'create');
    return { entry: this.#entry(node), open: { fh: this.#fh++ } };
  }
}

function now(): number {
  return Date.now();
}
