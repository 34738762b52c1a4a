/**
 * What the container's POSIX tools print, parsed: stat(1) records, the readdir script's listing
 * and the errno behind a failure's stderr. busybox and GNU coreutils print the same here.
 */

import type { DirEntry, FileStat, Timespec } from '../../remote/file-client.ts';
import type { ErrnoName } from '../../remote/fs-error.ts';

// stat(1) format, the same for busybox and GNU: mode in hex, then numbers, then the three
// times with their fractions, then the name (last, so that a '|' in it cannot shift a field).
export const STAT_FORMAT = '%f|%s|%u|%g|%X|%Y|%Z|%i|%h|%b|%t|%T|%x|%y|%z|%n';
const STAT_FIELDS = 15;

// strerror(3) texts (glibc and musl agree on these) and busybox ash's own phrasing → errno names.
const MESSAGES: readonly [RegExp, ErrnoName][] = [
  [/No such file or directory|nonexistent directory|directory nonexistent/, 'ENOENT'],
  [/File exists/, 'EEXIST'],
  [/Not a directory|non-directory component/, 'ENOTDIR'],
  [/Is a directory/, 'EISDIR'],
  [/Directory not empty/, 'ENOTEMPTY'],
  [/Permission denied/, 'EACCES'],
  [/Operation not permitted/, 'EPERM'],
  [/File name too long/, 'ENAMETOOLONG'],
  [/Too many levels of symbolic links|Symbolic link loop/, 'ELOOP'],
  [/No space left on device/, 'ENOSPC'],
  [/quota exceeded/i, 'EDQUOT'],
  [/Read-only file system/, 'EROFS'],
  [/[Cc]ross-device link/, 'EXDEV'],
  [/Device or resource busy/, 'EBUSY'],
  [/Too many links/, 'EMLINK'],
  [/File too large/, 'EFBIG'],
  [/Text file busy/, 'ETXTBSY'],
  [/Operation not supported|Not supported/, 'ENOTSUP'],
  [/Invalid argument|subdirectory of itself/, 'EINVAL'],
  [/applet not found|command not found|not found/, 'ENOSYS'],
];

/** The errno a failed tool reported on stderr (`rmount-errno:NAME` from our scripts first). */
export function errnoFromStderr(stderr: string): ErrnoName {
  const own = /rmount-errno:([A-Z]+)/.exec(stderr);
  if (own) return own[1] as ErrnoName;
  for (const [re, code] of MESSAGES) if (re.test(stderr)) return code;
  return 'EIO';
}

function timespecFrom(sec: string, text: string): Timespec {
  const frac = /\.(\d+)/.exec(text);
  return { sec: Number(sec), nsec: frac ? Number(frac[1]!.padEnd(9, '0').slice(0, 9)) : 0 };
}

/** One stat(1) record (without its name) → FileStat. */
export function parseStatFields(f: readonly string[]): FileStat {
  const major = parseInt(f[10]!, 16) || 0;
  const minor = parseInt(f[11]!, 16) || 0;
  return {
    mode: parseInt(f[0]!, 16), size: Number(f[1]), uid: Number(f[2]), gid: Number(f[3]),
    atime: timespecFrom(f[4]!, f[12]!), mtime: timespecFrom(f[5]!, f[13]!), ctime: timespecFrom(f[6]!, f[14]!),
    ino: Number(f[7]), nlink: Number(f[8]), blocks: Number(f[9]),
    rdev: major * 256 + minor,
  };
}

/** Splits one record at `pos`: its fields and where the name starts; undefined when malformed. */
export function fieldsAt(text: string, pos: number): { fields: string[]; nameAt: number } | undefined {
  const fields: string[] = [];
  let at = pos;
  for (let i = 0; i < STAT_FIELDS; i++) {
    const bar = text.indexOf('|', at);
    if (bar < 0) return undefined;
    fields.push(text.slice(at, bar));
    at = bar + 1;
  }
  return { fields, nameAt: at };
}

/**
 * Parses the readdir script's output: NUL-separated names, an extra NUL, then one stat record
 * per name that still existed. Names are known exactly, so a newline or '|' in a name cannot
 * misalign the records; a name without a record (removed meanwhile, or an unmatched glob) is left out.
 */
export function parseListing(out: string): DirEntry[] {
  const end = out.indexOf('\0\0');
  const names = (end < 0 ? out : out.slice(0, end)).split('\0').filter(n => n !== '');
  const stats = end < 0 ? '' : out.slice(end + 2);
  const entries: DirEntry[] = [];
  let pos = 0;
  for (const name of names) {
    const rec = fieldsAt(stats, pos);
    if (rec === undefined || !stats.startsWith(`${name}\n`, rec.nameAt)) continue;
    pos = rec.nameAt + name.length + 1;
    if (name === '.' || name === '..') continue;
    entries.push({ name, stat: parseStatFields(rec.fields) });
  }
  return entries;
}
