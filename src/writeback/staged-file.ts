/**
 * A file whose whole content is held on local disk until it is on the remote: one made here, or
 * one opened with O_TRUNC. Reads, writes and stats of it never wait for the remote; its put (the
 * content and attributes in one go) is queued when it changes.
 */
import { closeSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { S_IFREG, type FileHandle, type FileStat, type SetAttr, type Timespec } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import type { Entry } from './op-queue.ts';
import { nowSpec, type StagedMeta, type TimeFit } from './records.ts';

/** What a staged file asks of the write-back client that owns it. */
export interface StagedOwner {
  /** The file's content or attributes changed: a put must follow. */
  modified(file: StagedFile, grewBy: number): void;
  /** Resolves once the file's content and what it depends on are on the remote (fsync'ed there with `sync`). */
  settle(file: StagedFile, sync: boolean): Promise<void>;
  /** Waits while the journal holds more unsent bytes than allowed. */
  room(): Promise<void>;
  /** A handle of the file was closed. */
  released(file: StagedFile, writable: boolean): void;
}

export class StagedFile {
  readonly id: number;
  /** The staging file on local disk holding the content. */
  readonly dataPath: string;
  /** The remote path the file has now, where its puts go; undefined once its last name was removed. */
  path: string | undefined;
  /** Its other names, made here by link(2) while it is staged; one takes over `path` when that is removed. */
  readonly links = new Set<string>();
  meta: StagedMeta;
  size: number;
  ctime: Timespec;
  /** The put waiting to be sent; a change while one waits needs no other (it reads the content when sent). */
  queuedPut: Entry | undefined;
  /** True once a put of it has started: the remote may hold a copy at its path. */
  remoteHasIt = false;
  /** An fsync asked for stable storage: the next put syncs on the remote. */
  syncWanted = false;
  /** Puts of it on their way now. */
  sending = 0;
  /** Open handles, and how many of them write. */
  handles = 0;
  writers = 0;
  /** The refusal of its last put, reported by every fsync and close until it is resolved. */
  error: FsError | undefined;
  /** Open only while a handle or a put uses it: a journal holding 100,000 files must not hold as many descriptors. */
  #fd: number | undefined;
  #disposed = false;
  /** Times as the remote will store them, so that what is shown now is what it shows later. */
  readonly #fit: TimeFit;

  constructor(id: number, dataPath: string, path: string | undefined, meta: StagedMeta, fit: TimeFit, existing = false) {
    this.id = id;
    this.#fit = fit;
    this.dataPath = dataPath;
    this.path = path;
    this.meta = meta;
    if (existing) this.size = statSync(dataPath).size;
    else {
      this.#fd = openSync(dataPath, 'w+', 0o600);
      this.size = 0;
    }
    this.ctime = fit(nowSpec());
  }

  /** The attributes the mount shows (no inode number: the VFS numbers it until it is on the remote). */
  /** Every name it has. */
  names(): string[] {
    return this.path === undefined ? [] : [this.path, ...this.links];
  }

  /** Its name `from` is `to` now (a rename). */
  moved(from: string, to: string): void {
    if (this.path === from) this.path = to;
    else if (this.links.delete(from)) this.links.add(to);
  }

  /** Its name `name` is gone; another of its names, if any, is where puts go now. */
  dropName(name: string): void {
    if (this.links.delete(name) || this.path !== name) return;
    const next = this.links.values().next();
    if (next.done === true) {
      this.path = undefined;
      return;
    }
    this.links.delete(next.value);
    this.path = next.value;
  }

  stat(): FileStat {
    const m = this.meta;
    return {
      mode: S_IFREG | (m.mode & 0o7777), size: this.size, uid: m.uid, gid: m.gid,
      atime: m.atime, mtime: m.mtime, ctime: this.ctime, nlink: this.path === undefined ? 0 : 1 + this.links.size,
      blocks: Math.ceil(this.size / 512),
    };
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): number {
    if (position >= this.size) return 0;
    return readSync(this.#descriptor(), buffer, offset, Math.min(length, this.size - position), position);
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): number {
    let done = 0;
    while (done < length) done += writeSync(this.#descriptor(), buffer, offset + done, length - done, position + done);
    const grew = Math.max(0, position + length - this.size);
    this.size += grew;
    this.meta = { ...this.meta, mtime: this.#fit(nowSpec()) };
    this.ctime = this.meta.mtime;
    return grew;
  }

  /** Applies attribute changes; resolves with the bytes it grew by. */
  setattr(attrs: SetAttr): number {
    let grew = 0;
    const now = this.#fit(nowSpec());
    const m = { ...this.meta };
    if (attrs.size !== undefined) {
      ftruncateSync(this.#descriptor(), attrs.size);
      grew = Math.max(0, attrs.size - this.size);
      this.size = attrs.size;
      if (attrs.mtime === undefined) m.mtime = now;
    }
    if (attrs.mode !== undefined) m.mode = attrs.mode & 0o7777;
    if (attrs.uid !== undefined) m.uid = attrs.uid;
    if (attrs.gid !== undefined) m.gid = attrs.gid;
    if (attrs.uid !== undefined || attrs.gid !== undefined) m.owned = true;
    if (attrs.atime !== undefined) m.atime = attrs.atime === 'now' ? now : this.#fit(attrs.atime);
    if (attrs.mtime !== undefined) m.mtime = attrs.mtime === 'now' ? now : this.#fit(attrs.mtime);
    this.meta = m;
    this.ctime = now;
    return grew;
  }

  /** The user resolved its refusal (retry or discard). */
  clearError(): void {
    this.error = undefined;
  }

  /** Closes the staging file's descriptor while nothing uses it; the next use opens it again. */
  park(): void {
    if (this.handles > 0 || this.sending > 0 || this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** Frees the staging file (nothing of it is left to send and no handle reads it). */
  dispose(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#disposed = true;
    rmSync(this.dataPath, { force: true });
  }

  #descriptor(): number {
    if (this.#disposed) throw new FsError('EBADF', 'read', this.path);
    this.#fd ??= openSync(this.dataPath, 'r+');
    return this.#fd;
  }
}

/** An open descriptor of a staged file, as the VFS sees it. */
export class StagedHandle implements FileHandle {
  readonly #file: StagedFile;
  readonly #owner: StagedOwner;
  readonly #writable: boolean;
  readonly #append: boolean;
  readonly #openedAs: string;
  #closed = false;

  constructor(file: StagedFile, owner: StagedOwner, mode: { write: boolean; append: boolean }) {
    this.#file = file;
    this.#owner = owner;
    this.#writable = mode.write;
    this.#append = mode.append;
    this.#openedAs = file.path ?? '';
    file.handles++;
    if (mode.write) file.writers++;
  }

  get path(): string {
    return this.#file.path ?? this.#openedAs;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#open('read');
    return this.#file.read(buffer, offset, length, position);
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    this.#open('write');
    if (!this.#writable) throw new FsError('EBADF', 'write', this.path);
    await this.#owner.room();
    const grew = this.#file.write(buffer, offset, length, this.#append ? this.#file.size : position);
    this.#owner.modified(this.#file, grew);
  }

  async stat(): Promise<FileStat> {
    this.#open('fstat');
    return this.#file.stat();
  }

  async setattr(attrs: SetAttr): Promise<void> {
    this.#open('fsetstat');
    const grew = this.#file.setattr(attrs);
    this.#owner.modified(this.#file, grew);
  }

  /** close(2): a refused put of this file is reported here, once written through this handle. */
  async flush(): Promise<void> {
    this.#open('flush');
    if (this.#writable && this.#file.error !== undefined) throw this.#file.error;
  }

  async sync(): Promise<void> {
    this.#open('fsync');
    await this.#owner.settle(this.#file, true);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.handles--;
    if (this.#writable) this.#file.writers--;
    this.#owner.released(this.#file, this.#writable);
  }

  #open(syscall: string): void {
    if (this.#closed) throw new FsError('EBADF', syscall, this.path);
  }
}
