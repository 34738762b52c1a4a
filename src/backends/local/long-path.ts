import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Paths longer than the kernel takes in one call (PATH_MAX, 4096 bytes with its NUL). The mount
 * hands us the backing folder's path plus the path inside the mount, so a name that fits inside
 * the mount (as it would on a local disk, reached by a program that chdir'd into it) can be too
 * long once prefixed. Such a path is walked openat-style: its leading folders are opened in
 * pieces, each relative to the last through /proc/self/fd, and the call gets a short alias.
 */
const PATH_MAX = 4096;
/** Longest piece opened in one step, leaving room for the "/proc/self/fd/N/" prefix. */
const PIECE_MAX = PATH_MAX - 64;
/** O_PATH (Linux): a descriptor that only anchors path resolution, so no read permission is needed. */
const O_PATH = 0o10000000;

/** Runs `fn` with `path`, or with a short alias of it through descriptors of its folders when it is too long. */
export async function withShortPath<T>(path: string, fn: (short: string) => Promise<T>): Promise<T> {
  // Every call of the local backend passes here: a UTF-8 character is at most 3 bytes, so most
  // paths are known short without counting their bytes.
  if (path.length * 3 < PATH_MAX || Buffer.byteLength(path) < PATH_MAX) return fn(path);
  const parts = path.split('/');
  const last = parts.pop()!;
  const held: FileHandle[] = [];
  try {
    let base = '';
    let piece: string[] = [];
    let pieceBytes = 0;
    const openPiece = async (): Promise<void> => {
      const rel = piece.join('/');
      const at = base === '' ? rel || '/' : `${base}/${rel}`;
      const fh = await open(at, O_PATH | constants.O_DIRECTORY);
      held.push(fh);
      base = `/proc/self/fd/${fh.fd}`;
      piece = [];
      pieceBytes = 0;
    };
    for (const part of parts) {
      const bytes = Buffer.byteLength(part) + 1;
      if (pieceBytes + bytes > PIECE_MAX) await openPiece();
      piece.push(part);
      pieceBytes += bytes;
    }
    if (piece.length > 0) await openPiece();
    return await fn(`${base}/${last}`);
  } finally {
    await Promise.all(held.map(fh => fh.close().catch(() => undefined)));
  }
}

/** {@link withShortPath} for two paths at once (rename, link). */
export function withShortPaths<T>(a: string, b: string, fn: (a: string, b: string) => Promise<T>): Promise<T> {
  return withShortPath(a, sa => withShortPath(b, sb => fn(sa, sb)));
}
