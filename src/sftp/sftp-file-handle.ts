/** The FileHandle of the SFTP FileClient: one SFTP handle, with reads and writes split at the limits. */

import type { FileHandle, FileStat, SetAttr, StatFs } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import { EXT, RMOUNT_EXT, RMOUNT_SETSTAT_FLAG } from './constants.ts';
import type { SftpErrno } from './errno-refinement.ts';
import { MADE_UP_STATFS, needsCurrent, toFileStat, toSetstatNs, toSftpAttrs, toStatFs } from './sftp-attrs.ts';
import type { SftpClient } from './sftp-client.ts';

/** Splits `[0, length)` into pieces of at most `max` bytes. */
function pieces(length: number, max: number): Array<[start: number, size: number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < length; start += max) out.push([start, Math.min(max, length - start)]);
  return out;
}

/** Waits for every promise, then throws the first failure (so no piece is still running). */
async function allOrFirstError<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find(s => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return settled.map(s => (s as PromiseFulfilledResult<T>).value);
}

/** An open SFTP file. Reads and writes larger than the negotiated limits are split and pipelined. */
export class SftpFileHandle implements FileHandle {
  readonly #sftp: SftpClient;
  readonly #errno: SftpErrno;
  #handle: Buffer | undefined;
  /** sftp-server and rmount-agent read and answer one request at a time (see SftpClient.fstat for the client's side). */
  readonly inOrder = true;

  /**
   * @internal Made by `SftpFileClient.open` (and `adopt`). `instance` names the durable agent
   * session the handle belongs to, when the server is one.
   */
  constructor(sftp: SftpClient, errno: SftpErrno, readonly path: string, handle: Buffer, readonly instance?: string) {
    this.#sftp = sftp;
    this.#errno = errno;
    this.#handle = handle;
  }

  /** @internal The SFTP handle; throws EBADF once closed. */
  raw(op: string): Buffer {
    if (this.#handle === undefined) throw new FsError('EBADF', op, this.path);
    return this.#handle;
  }

  /** @inheritDoc */
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const h = this.raw('read');
    if (length <= 0) return 0;
    const sftp = this.#sftp;
    try {
      const parts = pieces(length, sftp.limits.maxRead);
      const got = await allOrFirstError(parts.map(([start, size]) => sftp.read(h, position + start, size, buffer, offset + start)));
      let total = 0;
      for (let i = 0; i < parts.length; i++) {
        const [start, size] = parts[i]!;
        let n = got[i]!;
        if (n === 0) return total;
        // A server may answer short before EOF; finish this piece before trusting the next.
        while (n < size) {
          const more = await sftp.read(h, position + start + n, size - n, buffer, offset + start + n);
          if (more === 0) return total + n;
          n += more;
        }
        total += n;
      }
      return total;
    } catch (error) {
      throw await this.#errno.convert('read', this.path, error, this.#errno.read(h));
    }
  }

  /** @inheritDoc */
  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    const h = this.raw('write');
    if (length <= 0) return;
    const sftp = this.#sftp;
    try {
      await allOrFirstError(pieces(length, sftp.limits.maxWrite).map(([start, size]) =>
        sftp.write(h, position + start, buffer, offset + start, size)));
    } catch (error) {
      throw await this.#errno.convert('write', this.path, error);
    }
  }

  /** @inheritDoc */
  async stat(): Promise<FileStat> {
    const h = this.raw('stat');
    try {
      return toFileStat(await this.#sftp.fstat(h));
    } catch (error) {
      throw await this.#errno.convert('stat', this.path, error);
    }
  }

  /** @inheritDoc */
  async setattr(attrs: SetAttr): Promise<void> {
    const h = this.raw('setattr');
    const sftp = this.#sftp;
    try {
      if (sftp.has(RMOUNT_EXT.SETSTAT)) {
        await sftp.rmount.setstat(h, RMOUNT_SETSTAT_FLAG.HANDLE, toSetstatNs(attrs));
      } else {
        const current = needsCurrent(attrs) ? await sftp.fstat(h) : undefined;
        await sftp.fsetstat(h, toSftpAttrs(attrs, current));
      }
    } catch (error) {
      throw await this.#errno.convert('setattr', this.path, error);
    }
  }

  /** fsync@openssh.com, or a successful no-op when the server lacks it. */
  async sync(): Promise<void> {
    const h = this.raw('sync');
    if (!this.#sftp.has(EXT.FSYNC)) return;
    try {
      await this.#sftp.fsync(h);
    } catch (error) {
      throw await this.#errno.convert('sync', this.path, error);
    }
  }

  /** Statistics of the file system holding this file (fstatvfs@openssh.com, else made up). */
  async statfs(): Promise<StatFs> {
    const h = this.raw('statfs');
    const sftp = this.#sftp;
    try {
      return sftp.has(EXT.FSTATVFS) ? toStatFs(await sftp.fstatvfs(h)) : { ...MADE_UP_STATFS };
    } catch (error) {
      throw await this.#errno.convert('statfs', this.path, error);
    }
  }

  /** @inheritDoc */
  async close(): Promise<void> {
    const h = this.#handle;
    if (h === undefined) return;
    this.#handle = undefined;
    try {
      await this.#sftp.close(h);
    } catch (error) {
      throw await this.#errno.convert('close', this.path, error);
    }
  }
}
