/**
 * SFTP status → errno names. One table plus per-operation refinements, as sshfs does: v3 has nine
 * codes, and OpenSSH's sftp-server folds every errno it has no code for (EEXIST, ENOTEMPTY, EISDIR,
 * ENOSPC, ...) into FAILURE.
 */

import { isErrnoName, type ErrnoName } from '../remote/fs-error.ts';
import { STATUS } from './constants.ts';

/** Errno for each status code, before per-operation refinement. */
const STATUS_ERRNO: Readonly<Record<number, ErrnoName>> = {
  [STATUS.EOF]: 'EIO',
  [STATUS.NO_SUCH_FILE]: 'ENOENT',
  [STATUS.PERMISSION_DENIED]: 'EACCES',
  [STATUS.FAILURE]: 'EIO',
  // OpenSSH sends BAD_MESSAGE for EINVAL and ENAMETOOLONG.
  [STATUS.BAD_MESSAGE]: 'EINVAL',
  [STATUS.NO_CONNECTION]: 'ENOTCONN',
  [STATUS.CONNECTION_LOST]: 'ECONNABORTED',
  [STATUS.OP_UNSUPPORTED]: 'ENOTSUP',
  [STATUS.INVALID_HANDLE]: 'EBADF',
  [STATUS.NO_SUCH_PATH]: 'ENOENT',
  [STATUS.FILE_ALREADY_EXISTS]: 'EEXIST',
  [STATUS.WRITE_PROTECT]: 'EROFS',
  [STATUS.NO_MEDIA]: 'ENXIO',
  [STATUS.NO_SPACE_ON_FILESYSTEM]: 'ENOSPC',
  [STATUS.QUOTA_EXCEEDED]: 'EDQUOT',
  [STATUS.UNKNOWN_PRINCIPAL]: 'EINVAL',
  [STATUS.LOCK_CONFLICT]: 'EAGAIN',
  [STATUS.DIR_NOT_EMPTY]: 'ENOTEMPTY',
  [STATUS.NOT_A_DIRECTORY]: 'ENOTDIR',
  [STATUS.INVALID_FILENAME]: 'EINVAL',
  [STATUS.LINK_LOOP]: 'ELOOP',
  [STATUS.CANNOT_DELETE]: 'EPERM',
  [STATUS.INVALID_PARAMETER]: 'EINVAL',
  [STATUS.FILE_IS_A_DIRECTORY]: 'EISDIR',
};

/** Per-operation meaning of FAILURE where it is unambiguous without another round trip. */
const FAILURE_BY_OP: Readonly<Record<string, ErrnoName>> = {
  // rmdir(2) on an existing directory fails for little else; sshfs answers the same.
  rmdir: 'ENOTEMPTY',
};

/** Per-operation meaning of OP_UNSUPPORTED. */
const UNSUPPORTED_BY_OP: Readonly<Record<string, ErrnoName>> = {
  link: 'ENOSYS',
};

/**
 * The errno name for an SFTP status answered to `op` (a FileClient method name: 'rmdir', 'open',
 * ...). A status message that is exactly an errno name ("ENOENT", as rmount's agent sends) wins over
 * the table. FAILURE on mkdir/link/symlink/open needs an lstat to become EEXIST; the caller does
 * that (see `SftpFileClient`), this function stays synchronous.
 */
export function sftpErrno(status: number, op: string, message?: string): ErrnoName {
  if (message !== undefined && isErrnoName(message)) return message;
  if (status === STATUS.FAILURE) return FAILURE_BY_OP[op] ?? 'EIO';
  if (status === STATUS.OP_UNSUPPORTED) return UNSUPPORTED_BY_OP[op] ?? 'ENOTSUP';
  return STATUS_ERRNO[status] ?? 'EIO';
}

/** A non-OK status answered to a request: the raw reply, kept as the `cause` of an FsError. */
export class SftpStatusError extends Error {
  override readonly name = 'SftpStatusError';
  constructor(
    readonly status: number,
    readonly serverMessage: string,
    readonly request: string,
  ) {
    super(`${request}: status ${statusName(status)}${serverMessage === '' ? '' : ` (${serverMessage})`}`);
  }
}

/** The transport is gone: closed, ended, errored or broke the protocol. */
export class SftpConnectionError extends Error {
  override readonly name = 'SftpConnectionError';
}

/** The symbolic name of a status code, for messages. */
export function statusName(status: number): string {
  for (const [name, value] of Object.entries(STATUS)) if (value === status) return name;
  return `UNKNOWN(${status})`;
}
