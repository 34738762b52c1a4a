import type { RequestContext } from '../fuse/operations.ts';
import { FsError } from '../remote/fs-error.ts';

/** NAME_MAX: longer names get ENAMETOOLONG before any remote call. */
export const NAME_MAX = 255;

/** @throws FsError ENAMETOOLONG or EINVAL for a name no op may make or remove. */
export function checkName(name: string, syscall: string): void {
  if (Buffer.byteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', syscall);
  if (name === '' || name.includes('/') || name === '.' || name === '..') throw new FsError('EINVAL', syscall);
}

/** The mode a new file or folder gets: the caller's umask applied, as the kernel would. */
export function createMode(mode: number, ctx: RequestContext): number {
  return mode & 0o7777 & ~ctx.umask;
}
