import { FsError, isErrnoName } from '../../remote/fs-error.ts';

/** Converts a node:fs error into an FsError, keeping it as `cause`; unknown codes become EIO. */
export function toFsError(error: unknown, syscall: string, path?: string): FsError {
  if (error instanceof FsError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const name = code === 'EOPNOTSUPP' ? 'ENOTSUP' : code;
  return new FsError(isErrnoName(name) ? name : 'EIO', syscall, path, { cause: error });
}
