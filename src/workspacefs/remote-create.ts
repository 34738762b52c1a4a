import { S_IFDIR, S_IFMT, S_IFREG, type FileHandle, type FileStat, type OpenFlags } from '../remote/file-client.ts';
import { isFsError } from '../remote/fs-error.ts';
import type { VfsCore } from './core.ts';

/** A file opened by create: its handle, its attributes, and whether this call made it. */
export interface Created {
  remote: FileHandle;
  stat: FileStat;
  created: boolean;
}

/**
 * Opens `path` for create(2) with mode `want`: exclusive first, so that we know whether we made
 * the file (and may make its mode exact); the kernel creates only names it believes missing, so
 * the second, plain try is rare. The attributes come in the same round trip where the remote
 * keeps request order.
 */
export async function openCreating(core: VfsCore, path: string, flags: OpenFlags, want: number): Promise<Created> {
  const { caller, client } = core;
  const tryOpen = (flagsNow: OpenFlags) => {
    const opening = caller.call('open', path, () => client.open(path, flagsNow, want));
    // An lstat sent right behind the OPEN is answered after it (SFTP servers take one channel's
    // requests in order): the new file's attributes in the same round trip. Where that order is
    // not kept (another client, a backend running calls concurrently) the handle is asked.
    const early = caller.call('lstat', path, () => client.lstat(path)).catch(() => undefined);
    return { opening, early };
  };
  let attempt = tryOpen({ ...flags, exclusive: true });
  let created = true;
  let remote: FileHandle;
  try {
    remote = await attempt.opening;
  } catch (error) {
    if (flags.exclusive === true || !isFsError(error, 'EEXIST')) throw error;
    created = false;
    attempt = tryOpen(flags);
    remote = await attempt.opening;
  }
  let stat = await attempt.early;
  try {
    if (stat === undefined || (stat.mode & S_IFMT) !== S_IFREG || (flags.truncate === true && stat.size !== 0)) {
      stat = await caller.call('handle.stat', path, () => remote.stat());
    }
    if (created) stat = await exactMode(core, stat, want, path, remote);
  } catch (error) {
    await caller.call('handle.close', path, () => remote.close()).catch(() => undefined);
    throw error;
  }
  return { remote, stat, created };
}

/**
 * A file or folder we just made has mode `want` exactly (the kernel already applied the caller's
 * umask): a remote that applied its own umask too gets a chmod. A folder may keep a set-group-ID
 * bit it inherited from its parent, as on a local disk.
 */
export async function exactMode(core: VfsCore, stat: FileStat, want: number, path: string, handle?: FileHandle): Promise<FileStat> {
  const { caller, client } = core;
  let have = stat.mode & 0o7777;
  if ((stat.mode & S_IFMT) === S_IFDIR && (want & 0o2000) === 0) have &= ~0o2000;
  if (have === want) return stat;
  const mode = { mode: (stat.mode & S_IFMT) === S_IFDIR ? want | (stat.mode & 0o2000) : want };
  await (handle === undefined
    ? caller.call('setattr', path, () => client.setattr(path, mode))
    : caller.call('handle.setattr', path, () => handle.setattr(mode)));
  return { ...stat, mode: (stat.mode & S_IFMT) | mode.mode };
}
