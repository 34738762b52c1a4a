import type { FileHandle, FileStat, SetAttr } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import type { CacheWatch } from './cache-watch.ts';

/** The whole content of one small file, read ahead, with the attributes it was read under. */
export interface CachedContent {
  data: Buffer;
  /** Size and mtime from the listing the read was started for. */
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** `now()` after which it is not used. */
  expires: number;
}

/**
 * Contents of small files read ahead while a tree is being read file by file (`git status` on a
 * fresh clone, `grep -r`), per inode, bounded in bytes (oldest dropped first). An entry is used
 * only while its node's attributes are fresh and still show the size and mtime it was read
 * under, and never after its expiry (the attribute lifetime), so it is never older than the
 * attributes the kernel is shown.
 */
export class ContentCache {
  readonly #maxBytes: number;
  readonly #watch: CacheWatch;
  /** The attribute lifetime an entry's `expires` was counted with. */
  readonly #ttlMs: number;
  readonly #entries = new Map<number, CachedContent>();
  #bytes = 0;

  constructor(maxBytes: number, watch: CacheWatch, ttlMs: number) {
    this.#maxBytes = maxBytes;
    this.#watch = watch;
    this.#ttlMs = ttlMs;
  }

  /**
   * The content of `ino` if it matches `stat` and has not expired (`anyAge`: expired too, for
   * answers while the link is down; expired entries are kept until the byte budget needs room).
   */
  get(ino: number, stat: FileStat, anyAge = false): Buffer | undefined {
    const entry = this.#entries.get(ino);
    if (entry === undefined) return undefined;
    if (entry.size !== stat.size || entry.data.length !== stat.size
      || entry.mtimeSec !== stat.mtime.sec || entry.mtimeNsec !== stat.mtime.nsec) {
      this.delete(ino);
      return undefined;
    }
    return anyAge || this.#watch.valid(entry.expires, this.#ttlMs) ? entry.data : undefined;
  }

  /** True when an unexpired content of `ino` is kept. */
  has(ino: number): boolean {
    const entry = this.#entries.get(ino);
    return entry !== undefined && this.#watch.valid(entry.expires, this.#ttlMs);
  }

  set(ino: number, entry: CachedContent): void {
    if (entry.data.length > this.#maxBytes) return;
    this.delete(ino);
    this.#entries.set(ino, entry);
    this.#bytes += entry.data.length;
    for (const [oldest, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= e.data.length;
    }
  }

  delete(ino: number): void {
    const entry = this.#entries.get(ino);
    if (entry === undefined) return;
    this.#entries.delete(ino);
    this.#bytes -= entry.data.length;
  }
}

/**
 * A FileHandle opened on first use: a read-only open answered from read-ahead content costs no
 * round trip, and only opens the remote file if something reads past what is cached (or asks the
 * handle for its attributes). `path` is asked at that moment, so a rename in between is followed.
 */
export class LazyFileHandle implements FileHandle {
  readonly path: string;
  readonly #open: (path: string) => Promise<FileHandle>;
  readonly #currentPath: () => string | undefined;
  #handle: Promise<FileHandle> | undefined;
  #closed = false;

  constructor(path: string, currentPath: () => string | undefined, open: (path: string) => Promise<FileHandle>) {
    this.path = path;
    this.#currentPath = currentPath;
    this.#open = open;
  }

  /** True once the remote file was opened (something needed more than the bytes read whole). */
  get opened(): boolean {
    return this.#handle !== undefined;
  }

  #get(): Promise<FileHandle> {
    if (this.#closed) return Promise.reject(new FsError('EBADF', 'read', this.path));
    this.#handle ??= this.#open(this.#currentPath() ?? this.path);
    return this.#handle;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.#get()).read(buffer, offset, length, position);
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    return (await this.#get()).write(buffer, offset, length, position);
  }

  async stat(): Promise<FileStat> {
    return (await this.#get()).stat();
  }

  async setattr(attrs: SetAttr): Promise<void> {
    return (await this.#get()).setattr(attrs);
  }

  async sync(): Promise<void> {
    if (this.#handle === undefined) return;
    return (await this.#get()).sync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const handle = this.#handle;
    if (handle === undefined) return;
    await (await handle).close();
  }
}
