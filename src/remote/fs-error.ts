/**
 * The one filesystem error of rmount. Every FileClient converts its transport's failures into an
 * `FsError` at its own edge, once, and keeps the original as `cause`. The FUSE edge turns `code`
 * into a number (src/fuse/errno.ts); nothing else does.
 */

/** Every errno name rmount knows: the one list (src/fuse/errno.ts maps each to its number). */
export const ERRNO_NAMES = [
  'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EACCES', 'EPERM', 'EXDEV',
  'EINVAL', 'ENOSYS', 'ENOTSUP', 'ENOTCONN', 'ECONNABORTED', 'ETIMEDOUT', 'EIO',
  'EBADF', 'ENAMETOOLONG', 'ELOOP', 'ENOSPC', 'EDQUOT', 'EROFS', 'EBUSY', 'EMLINK',
  'EFBIG', 'ETXTBSY', 'EAGAIN', 'ERANGE', 'ENODATA', 'EMFILE', 'ENXIO', 'ESTALE',
  'EHOSTUNREACH', 'ECONNREFUSED', 'EOVERFLOW', 'ESPIPE', 'EFAULT', 'EINTR',
] as const;

/** A POSIX errno name, as `code` of an FsError. */
export type ErrnoName = (typeof ERRNO_NAMES)[number];

const KNOWN: ReadonlySet<string> = new Set(ERRNO_NAMES);

/** True when `name` is one of the errno names rmount knows. */
export function isErrnoName(name: unknown): name is ErrnoName {
  return typeof name === 'string' && KNOWN.has(name);
}

/** A failed file operation. `code` is a POSIX errno name; `syscall`/`path` mirror Node's fs errors. */
export class FsError extends Error {
  override readonly name = 'FsError';
  constructor(
    readonly code: ErrnoName,
    readonly syscall: string,
    readonly path?: string,
    options?: ErrorOptions,
  ) {
    super(`${code}: ${syscall}${path === undefined ? '' : ` '${path}'`}`, options);
  }
}

/** True when `error` is an FsError, and when `code` is given, one with that code. */
export function isFsError(error: unknown, code?: ErrnoName): error is FsError {
  return error instanceof FsError && (code === undefined || error.code === code);
}
