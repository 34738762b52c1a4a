/**
 * The reads of the agentless Docker FileClient that need no shell in the container: stat,
 * listing and file data through the archive API, with its failures as FsError.
 */

import type Dockerode from 'dockerode';
import { FsError } from '../../remote/fs-error.ts';
import { isDirMode, isSymlinkMode, S_IFDIR, S_IFLNK, S_IFREG, type DirEntry, type FileStat } from '../../remote/file-client.ts';
import { downloadFile, listFolder, statPath, type ArchivePathStat } from './container-archive.ts';

/** An archive API failure as the FsError of `syscall`: 404 is ENOENT, a stopped container ENOTCONN. */
export function archiveError(error: unknown, syscall: string, path: string): FsError {
  if (error instanceof FsError) return error;
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 404) return new FsError('ENOENT', syscall, path, { cause: error });
  if (status === 409) return new FsError('ENOTCONN', syscall, path, { cause: error });
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT' || code === 'EPIPE') return new FsError('ENOTCONN', syscall, path, { cause: error });
  return new FsError('EIO', syscall, path, { cause: error });
}

/** stat or lstat through the archive HEAD, which carries no owner, atime, inode or link count. */
export async function statByArchive(container: Dockerode.Container, syscall: string, path: string, follow: boolean): Promise<FileStat> {
  let st: ArchivePathStat;
  try {
    st = await statPath(container, path);
    if (follow && isSymlinkMode(st.mode) && st.linkTarget !== '') st = await statPath(container, st.linkTarget);
  } catch (error) {
    throw archiveError(error, syscall, path);
  }
  return { mode: st.mode, size: st.size, uid: 0, gid: 0, atime: st.mtime, mtime: st.mtime };
}

/** A folder's entries from the tar headers of its archive. */
export async function readdirByArchive(container: Dockerode.Container, path: string): Promise<DirEntry[]> {
  const st = await statByArchive(container, 'readdir', path, true);
  if (!isDirMode(st.mode)) throw new FsError('ENOTDIR', 'readdir', path);
  try {
    const entries = await listFolder(container, path);
    return entries.map(({ name, header: h }) => ({
      name,
      stat: {
        mode: (h.type === 'directory' ? S_IFDIR : h.type === 'symlink' ? S_IFLNK : S_IFREG) | ((h.mode ?? 0) & 0o7777),
        size: h.size ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0,
        atime: { sec: Math.floor((h.mtime?.getTime() ?? 0) / 1000), nsec: 0 },
        mtime: { sec: Math.floor((h.mtime?.getTime() ?? 0) / 1000), nsec: 0 },
      },
    }));
  } catch (error) {
    throw archiveError(error, 'readdir', path);
  }
}

/** Fills the local file `local` with the bytes of `path` (archive GET). */
export async function downloadByArchive(container: Dockerode.Container, path: string, local: string): Promise<void> {
  try {
    await downloadFile(container, path, local);
  } catch (error) {
    throw archiveError(error, 'read', path);
  }
}
