import type { DirEntry } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import type { Node } from './inode-table.ts';
import type { OpenFile } from './open-file.ts';
import { WriteOrder } from './write-order.ts';

/** An open directory: a snapshot of its listing, so offsets stay valid across readdir calls. */
export interface DirHandle {
  node: Node;
  entries: readonly DirEntry[];
  /** `now()` when the snapshot was read from the remote (attributes are that old). */
  fetchedAt: number;
  /** Set once a readdir has been answered; a later offset-0 readdir (rewinddir) takes a new snapshot. */
  read: boolean;
}

/**
 * The open-handle table: file handle numbers → open files and directories. Numbers are never
 * reused while the mount lives, so a late request on a released handle gets EBADF, not another file.
 */
export class HandleTable {
  readonly #files = new Map<number, OpenFile>();
  readonly #byNode = new Map<Node, Set<OpenFile>>();
  readonly #dirs = new Map<number, DirHandle>();
  /** One per node with open files, shared by its descriptors; dropped with the node's last file. */
  readonly #orders = new Map<Node, WriteOrder>();
  #next = 1;

  /** Number of open files. */
  get fileCount(): number {
    return this.#files.size;
  }

  /** Number of open directories. */
  get dirCount(): number {
    return this.#dirs.size;
  }

  /** Registers an open file and returns its handle number. */
  addFile(file: OpenFile): number {
    const fh = this.#next++;
    this.#files.set(fh, file);
    let set = this.#byNode.get(file.node);
    if (set === undefined) this.#byNode.set(file.node, (set = new Set()));
    set.add(file);
    return fh;
  }

  /** Forgets open file `fh`. */
  removeFile(fh: number): void {
    const file = this.#files.get(fh);
    if (file === undefined) return;
    this.#files.delete(fh);
    const set = this.#byNode.get(file.node);
    set?.delete(file);
    if (set?.size === 0) {
      this.#byNode.delete(file.node);
      if (this.#orders.get(file.node)?.idle !== false) this.#orders.delete(file.node);
    }
  }

  /** The write order shared by every descriptor of `node` (made for the first one). */
  writeOrder(node: Node): WriteOrder {
    let order = this.#orders.get(node);
    if (order === undefined) this.#orders.set(node, (order = new WriteOrder()));
    return order;
  }

  /** Registers an open directory and returns its handle number. */
  addDir(dir: DirHandle): number {
    const fh = this.#next++;
    this.#dirs.set(fh, dir);
    return fh;
  }

  /** Forgets open directory `fh`; returns it. */
  removeDir(fh: number): DirHandle | undefined {
    const dir = this.#dirs.get(fh);
    this.#dirs.delete(fh);
    return dir;
  }

  /** The open file `fh`. @throws FsError EBADF when unknown. */
  file(fh: number, syscall: string): OpenFile {
    const file = this.#files.get(fh);
    if (file === undefined) throw new FsError('EBADF', syscall);
    return file;
  }

  /** The open file `fh`, or undefined. */
  findFile(fh: number): OpenFile | undefined {
    return this.#files.get(fh);
  }

  /** The open directory `fh`. @throws FsError EBADF when unknown. */
  dir(fh: number, syscall: string): DirHandle {
    const dir = this.#dirs.get(fh);
    if (dir === undefined) throw new FsError('EBADF', syscall);
    return dir;
  }

  /** Every open file of `node` (empty when none). */
  filesOf(node: Node): readonly OpenFile[] {
    const set = this.#byNode.get(node);
    return set === undefined ? [] : [...set];
  }

  /** True while some descriptor of `node` is open for writing (our view of it wins over the remote's). */
  hasWriter(node: Node): boolean {
    return this.filesOf(node).some(f => f.writable);
  }

  /** Waits until every open file of `node` has its writes acknowledged (errors stay on the handles). */
  async settle(node: Node): Promise<void> {
    const files = this.filesOf(node);
    if (files.length > 0) await Promise.all(files.map(f => f.settle()));
  }

  /**
   * Before a read through `file`: where the read may go right behind the writes of its file
   * (OpenFile.sendAhead, and no other descriptor holds writes), their sends are started and the
   * read need not wait; else waits until every write is acknowledged.
   */
  async settleForRead(file: OpenFile): Promise<void> {
    if (!this.sendAhead(file)) await this.settle(file.node);
  }

  /**
   * Starts the sends of `file`'s gathered writes, and says whether a call made through it now
   * comes after every write of its file (OpenFile.sendAhead), no other descriptor holding any.
   */
  sendAhead(file: OpenFile): boolean {
    return this.filesOf(file.node).every(f => f === file || !f.dirty) && file.sendAhead();
  }

  /** Every open file. */
  allFiles(): OpenFile[] {
    return [...this.#files.values()];
  }
}
