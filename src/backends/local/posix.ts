import { readFileSync } from 'node:fs';
import { loadNativeAddon } from '../../system/native-addon.ts';

/** In place of a time's nanoseconds: leave that time as it is (UTIME_OMIT). native/posix/posix.h has the same. */
export const NSEC_OMIT = -1;
/** In place of a time's nanoseconds: the file system's current time (UTIME_NOW). */
export const NSEC_NOW = -2;

/**
 * The posix_binding addon (native/posix/posix.c): the calls node:fs cannot make exactly. Each time
 * is whole seconds (an integer, negative before 1970) plus nanoseconds 0..999999999, or
 * `NSEC_OMIT`/`NSEC_NOW` as the nanoseconds. The calls run on the libuv thread pool. They reject
 * with errors shaped like node:fs's (`code` is the errno name, plus `errno`, `syscall`, `path`),
 * and they throw a TypeError/RangeError (code ERR_*) for malformed arguments.
 */
export interface PosixBinding {
  /** utimensat(AT_FDCWD, path, times, noFollow ? AT_SYMLINK_NOFOLLOW : 0). */
  utimensat(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number, noFollow: boolean): Promise<void>;
  /** futimens(fd, times). The caller keeps `fd` open until the promise settles. */
  futimens(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): Promise<void>;
  /** mknod(path, mode, rdev): `mode` carries the S_IFMT type; the process umask applies. */
  mknod(path: string, mode: number, rdev: number): Promise<void>;
}

/**
 * The posix addon, or `override` (tests pass a fake). `npm run build:native` builds it next to
 * the FUSE addon, into build/Release/posix_binding.node.
 */
export function loadPosix(override?: PosixBinding): PosixBinding {
  if (override !== undefined) return override;
  return loadNativeAddon<PosixBinding>('posix_binding.node', 'ERR_POSIX_BINDING', 'the posix addon');
}

/**
 * The process umask, read from /proc/self/status (Linux 4.7+). `process.umask()` would do too,
 * but it writes the umask to read it (umask(0), then back): a file another thread creates in
 * between escapes the umask. Node documents it as deprecated for that (DEP0139); Node 20 warns
 * about nothing.
 */
export function readUmask(): number {
  try {
    const line = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    if (line !== null) return parseInt(line[1]!, 8);
  } catch {
    // no /proc: fall through to the racy read
  }
  return process.umask();
}
