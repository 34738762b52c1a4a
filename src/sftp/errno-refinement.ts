/**
 * SFTP failures → FsError, once, for the whole SFTP FileClient. v3 has nine status codes and
 * OpenSSH's sftp-server folds every errno it has no code for into FAILURE (EEXIST, ENOTEMPTY,
 * EISDIR) and ENOTDIR into NO_SUCH_FILE, so each operation gets a refinement that asks the server
 * what the failure was (as sshfs does). A server that names the errno itself (rmount-agent) is
 * believed without a round trip.
 */

import { posix } from 'node:path';
import { nameTooLong, type OpenFlags, type RenameOptions, type SetAttr } from '../remote/file-client.ts';
import { FsError, isErrnoName, type ErrnoName } from '../remote/fs-error.ts';
import { STATUS } from './constants.ts';
import type { SftpAttrs } from './packet.ts';
import { isDir } from './sftp-attrs.ts';
import type { SftpClient } from './sftp-client.ts';
import { SftpConnectionError, SftpStatusError, sftpErrno } from './status.ts';

/** Sharpens the status an operation failed with; undefined keeps the table's answer. */
export type Refine = (status: number) => Promise<ErrnoName | undefined>;

/** The error conversion and the per-operation refinements of one SFTP client. */
export class SftpErrno {
  readonly #sftp: SftpClient;

  constructor(sftp: SftpClient) {
    this.#sftp = sftp;
  }

  /**
   * Converts an SFTP failure into the FsError of `op`, asking `refine` to sharpen it. `paths` are
   * every path the request named (both of a rename, link or symlink).
   */
  async convert(op: string, path: string | undefined, error: unknown, refine?: Refine, paths: readonly string[] = path === undefined ? [] : [path]): Promise<FsError> {
    if (error instanceof FsError) return error;
    if (error instanceof SftpStatusError) {
      let code = sftpErrno(error.status, op, error.serverMessage);
      // OpenSSH folds ENAMETOOLONG into BAD_MESSAGE with EINVAL; a path the kernel cannot take
      // tells which it was (an agent names it, and takes long paths besides).
      if (error.status === STATUS.BAD_MESSAGE && !isErrnoName(error.serverMessage) && paths.some(nameTooLong)) {
        return new FsError('ENAMETOOLONG', op, path, { cause: error });
      }
      if (refine !== undefined && !isErrnoName(error.serverMessage) && !this.#sftp.closed) {
        try {
          code = (await refine(error.status)) ?? code;
        } catch {
          // The refinement is a best effort; the table's answer stands.
        }
      }
      return new FsError(code, op, path, { cause: error });
    }
    if (error instanceof SftpConnectionError) return new FsError('ENOTCONN', op, path, { cause: error });
    return new FsError('EIO', op, path, { cause: error });
  }

  /** lstat that answers undefined instead of failing. */
  async probe(path: string): Promise<SftpAttrs | undefined> {
    try {
      return await this.#sftp.lstat(path);
    } catch {
      return undefined;
    }
  }

  /**
   * ENOTDIR when the nearest existing ancestor of `path` is not a folder: OpenSSH answers
   * NO_SUCH_FILE for both ENOENT and ENOTDIR. stat, not lstat: resolution follows symlinks there.
   */
  async #throughNonDir(path: string): Promise<ErrnoName | undefined> {
    for (let dir = posix.dirname(path); dir !== '/' && dir !== '.'; dir = posix.dirname(dir)) {
      let a: SftpAttrs;
      try {
        a = await this.#sftp.stat(dir);
      } catch (error) {
        if (error instanceof SftpStatusError && error.status === STATUS.NO_SUCH_FILE) continue;
        return undefined;
      }
      return isDir(a) ? undefined : 'ENOTDIR';
    }
    return undefined;
  }

  /** For operations that fail only on a missing or non-folder path component. */
  path(path: string): Refine {
    return async status => (status === STATUS.NO_SUCH_FILE ? this.#throughNonDir(path) : undefined);
  }

  /** mkdir, symlink, link: the name is taken (EEXIST folded into FAILURE) or a component is no folder. */
  create(path: string, source?: string): Refine {
    return async status => {
      if (status === STATUS.FAILURE) return (await this.probe(path)) !== undefined ? 'EEXIST' : undefined;
      if (status !== STATUS.NO_SUCH_FILE) return undefined;
      return (await this.#throughNonDir(path)) ?? (source === undefined ? undefined : await this.#throughNonDir(source));
    };
  }

  open(path: string, flags: OpenFlags): Refine {
    return async status => {
      if (status === STATUS.NO_SUCH_FILE) return this.#throughNonDir(path);
      if (status !== STATUS.FAILURE) return undefined;
      const a = await this.probe(path);
      if (a === undefined) return undefined;
      if (flags.create && flags.exclusive) return 'EEXIST';
      // open(2) of a directory for writing is EISDIR; a symlink to one is caught by stat.
      if (isDir(a) || isDir(await this.#sftp.stat(path))) return 'EISDIR';
      return undefined;
    };
  }

  readdir(path: string): Refine {
    return async status => {
      if (status !== STATUS.NO_SUCH_FILE && status !== STATUS.FAILURE) return undefined;
      const a = await this.probe(path);
      if (a === undefined) return status === STATUS.NO_SUCH_FILE ? this.#throughNonDir(path) : undefined;
      return !isDir(a) && !isDir(await this.#sftp.stat(path)) ? 'ENOTDIR' : undefined;
    };
  }

  readlink(path: string): Refine {
    return async () => ((await this.probe(path)) !== undefined ? 'EINVAL' : undefined);
  }

  /** FAILURE is ENOTEMPTY by the status table; OpenSSH reports ENOTDIR as NO_SUCH_FILE. */
  rmdir(path: string): Refine {
    return async status => {
      if (status !== STATUS.NO_SUCH_FILE) return undefined;
      const a = await this.probe(path);
      if (a === undefined) return this.#throughNonDir(path);
      return !isDir(a) ? 'ENOTDIR' : undefined;
    };
  }

  unlink(path: string): Refine {
    return async status => {
      if (status === STATUS.NO_SUCH_FILE) return this.#throughNonDir(path);
      return status === STATUS.FAILURE && isDir(await this.probe(path)) ? 'EISDIR' : undefined;
    };
  }

  /** rename(2)'s type rules, made from both ends; ENOTDIR of a folder onto a file comes as NO_SUCH_FILE. */
  rename(from: string, to: string, options: RenameOptions): Refine {
    return async status => {
      if (status !== STATUS.FAILURE && status !== STATUS.NO_SUCH_FILE) return undefined;
      const [a, b] = await Promise.all([this.probe(from), this.probe(to)]);
      if (a === undefined) return status === STATUS.NO_SUCH_FILE ? this.#throughNonDir(from) : undefined;
      if (status === STATUS.FAILURE && to.startsWith(`${from}/`)) return 'EINVAL';
      if (b === undefined) return status === STATUS.NO_SUCH_FILE ? this.#throughNonDir(to) : undefined;
      if (status === STATUS.NO_SUCH_FILE) return isDir(a) && !isDir(b) ? 'ENOTDIR' : undefined;
      if (options.noReplace) return 'EEXIST';
      if (isDir(a)) return isDir(b) ? 'ENOTEMPTY' : 'ENOTDIR';
      return isDir(b) ? 'EISDIR' : undefined;
    };
  }

  /** truncate(2) of a folder is EISDIR, folded into FAILURE. */
  setattr(path: string, attrs: SetAttr): Refine {
    return async status => {
      if (status === STATUS.NO_SUCH_FILE) return this.#throughNonDir(path);
      return status === STATUS.FAILURE && attrs.size !== undefined && isDir(await this.#sftp.stat(path)) ? 'EISDIR' : undefined;
    };
  }

  /** read(2) of a folder handle is EISDIR, folded into FAILURE. */
  read(handle: Buffer): Refine {
    return async status => (status === STATUS.FAILURE && isDir(await this.#sftp.fstat(handle)) ? 'EISDIR' : undefined);
  }
}
