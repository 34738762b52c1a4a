/**
 * The FileHandle of the agentless Docker FileClient. Writes are gathered in a local spool file and
 * reach the container on flush (sync/close); reads come from the same spool, filled through the
 * archive API on first use, so memory stays bounded whatever the size.
 */

import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle, FileStat, OpenFlags, SetAttr } from '../../remote/file-client.ts';
import { FsError } from '../../remote/fs-error.ts';

/** What a handle needs from its client; the client keeps the set of open handles. */
export interface SpoolOwner {
  /** Fills `local` with the file's bytes; `size` as seen at open picks the way. */
  download(path: string, local: string, size: number): Promise<void>;
  /** Rewrites the file in place from `local`. */
  upload(path: string, local: string): Promise<void>;
  /** `sync FILE` in the container. */
  syncFile(path: string): Promise<void>;
  stat(path: string): Promise<FileStat>;
  setattr(path: string, attrs: SetAttr): Promise<void>;
  /** The handle closed: drop it from the open set. */
  forget(handle: DockerFileHandle): void;
}

/** An open file: a local spool holds its bytes from the first read or write until close. */
export class DockerFileHandle implements FileHandle {
  readonly #client: SpoolOwner;
  #real: string;
  /** Unlinked or replaced while open: the content lives only in the spool from now on. */
  #orphaned = false;
  readonly #flags: OpenFlags;
  readonly #opened: FileStat;
  readonly #empty: boolean;
  #spool: Promise<{ dir: string; file: string; fh: fsp.FileHandle }> | undefined;
  #dirty = false;
  #closed = false;

  constructor(client: SpoolOwner, readonly path: string, real: string, flags: OpenFlags, st: FileStat, truncated: boolean) {
    this.#client = client;
    this.#real = real;
    this.#flags = flags;
    this.#opened = st;
    this.#empty = truncated || st.size === 0;
  }

  #check(syscall: string): void {
    if (this.#closed) throw new FsError('EBADF', syscall, this.path);
  }

  /** @internal True when this handle's file is `path` in the container. */
  targets(path: string): boolean {
    return !this.#orphaned && (this.#real === path || this.path === path);
  }

  /** @internal Loads the content into the spool (before the file is unlinked or replaced). */
  async retain(): Promise<void> {
    await this.#load();
  }

  /** @internal The file's name is gone: keep serving the spool, never upload it. */
  orphan(): void {
    this.#orphaned = true;
  }

  /** @internal The file was renamed: later uploads go to its new name. */
  moveTo(path: string): void {
    this.#real = path;
  }

  #load(): Promise<{ dir: string; file: string; fh: fsp.FileHandle }> {
    this.#spool ??= (async () => {
      const dir = await fsp.mkdtemp(join(tmpdir(), 'rmount-docker-'));
      const file = join(dir, 'spool');
      try {
        if (this.#empty) await fsp.writeFile(file, '');
        else await this.#client.download(this.#real, file, this.#opened.size);
        return { dir, file, fh: await fsp.open(file, 'r+') };
      } catch (error) {
        await fsp.rm(dir, { recursive: true, force: true });
        throw error;
      }
    })();
    this.#spool.catch(() => { this.#spool = undefined; });
    return this.#spool;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#check('read');
    if (!this.#flags.read) throw new FsError('EBADF', 'read', this.path);
    const { fh } = await this.#load();
    let total = 0;
    while (total < length) {
      const { bytesRead } = await fh.read(buffer, offset + total, length - total, position + total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    this.#check('write');
    if (!this.#flags.write) throw new FsError('EBADF', 'write', this.path);
    const { fh } = await this.#load();
    const at = this.#flags.append ? (await fh.stat()).size : position;
    this.#dirty = true;
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await fh.write(buffer, offset + done, length - done, at + done);
      done += bytesWritten;
    }
  }

  async stat(): Promise<FileStat> {
    this.#check('stat');
    let st: FileStat;
    if (this.#orphaned) {
      const { fh } = await this.#load();
      return { ...this.#opened, size: (await fh.stat()).size, nlink: 0 };
    }
    try {
      st = await this.#client.stat(this.#real);
    } catch (error) {
      if (!(error instanceof FsError && error.code === 'ENOENT')) throw error;
      st = this.#opened; // unlinked while open
    }
    if (this.#spool && this.#dirty) {
      const { fh } = await this.#spool;
      return { ...st, size: (await fh.stat()).size };
    }
    return st;
  }

  async setattr(attrs: SetAttr): Promise<void> {
    this.#check('setattr');
    const { size, ...rest } = attrs;
    if (size !== undefined) {
      const { fh } = await this.#load();
      await fh.truncate(size);
      this.#dirty = true;
      await this.#flush();
    }
    if (Object.keys(rest).length > 0 && !this.#orphaned) await this.#client.setattr(this.#real, rest);
  }

  async #flush(): Promise<void> {
    if (!this.#dirty || this.#spool === undefined || this.#orphaned) return;
    const { file } = await this.#spool;
    this.#dirty = false;
    try {
      await this.#client.upload(this.#real, file);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /** Sends the gathered writes (on close(2), so the container sees them at once). */
  async flush(): Promise<void> {
    this.#check('flush');
    await this.#flush();
  }

  /** Sends the gathered writes, then `sync FILE` in the container. */
  async sync(): Promise<void> {
    this.#check('sync');
    await this.#flush();
    if (!this.#orphaned) await this.#client.syncFile(this.#real);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#flush();
    } finally {
      await this.discard();
    }
  }

  /** @internal Drops the spool without sending it. */
  async discard(): Promise<void> {
    this.#closed = true;
    this.#client.forget(this);
    const spool = this.#spool;
    this.#spool = undefined;
    if (spool) {
      const s = await spool.catch(() => undefined);
      if (s) {
        await s.fh.close().catch(() => {});
        await fsp.rm(s.dir, { recursive: true, force: true });
      }
    }
  }
}
