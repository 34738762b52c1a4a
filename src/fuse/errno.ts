import { constants } from 'node:os';
import type { ErrnoName } from '../remote/fs-error.ts';

/**
 * The one place where errno names become numbers. The numbers are the running platform's
 * (Node's os.constants.errno), which on Linux are the kernel's; the FUSE protocol carries them as is.
 */
const NUMBERS: Readonly<Record<string, number>> = constants.errno;

/** The errno number of `name` on this platform (EIO for a name the platform lacks). */
export function errnoNumber(name: ErrnoName): number {
  return NUMBERS[name] ?? NUMBERS.EIO ?? 5;
}

/** The errno name of a number, for logs and tests; undefined if unknown. */
export function errnoName(errno: number): string | undefined {
  for (const [name, value] of Object.entries(NUMBERS)) if (value === errno) return name;
  return undefined;
}
