import type { RequestContext } from '../fuse/operations.ts';
import { S_IFDIR, S_IFLNK, S_IFMT, type FileHandle, type FileStat } from '../remote/file-client.ts';
import { isFsError } from '../remote/fs-error.ts';
import type { Logger } from '../remote/log.ts';
import type { VfsCore } from './core.ts';
import type { IdMap } from './id-map.ts';

/**
 * Owners as on a local disk: with `owner=caller`, what a local process makes through the mount
 * belongs to that process's uid and gid (the FUSE request carries them) instead of to the remote
 * login, so that with allow_other two local users' files stay theirs. Only a remote login that may
 * chown, i.e. root, can do it; 'auto' finds that out from the first file the remote makes.
 */
export class NewOwners {
  readonly #core: VfsCore;
  readonly #ids: IdMap;
  readonly #log: Logger;
  /** 'auto' until the first new file shows who the remote login is; 'login' once chown is refused. */
  #mode: 'caller' | 'login' | 'auto';

  constructor(core: VfsCore, ids: IdMap, log: Logger, mode: 'caller' | 'login' | 'auto') {
    this.#core = core;
    this.#ids = ids;
    this.#log = log;
    this.#mode = mode;
  }

  /**
   * `path` was just made for `ctx` with remote attributes `stat`, in a folder of mode `dirMode`:
   * gives it the caller's owner where that applies (through `handle` when open) and returns the
   * attributes it then has. A refused chown leaves the login's owner and is logged once.
   */
  async settle(path: string, stat: FileStat, ctx: RequestContext, dirMode: number, handle?: FileHandle): Promise<FileStat> {
    if (this.#mode === 'login') return stat;
    if (this.#mode === 'auto') {
      this.#mode = stat.uid === 0 ? 'caller' : 'login';
      this.#log.info(this.#mode === 'caller'
        ? 'new files belong to the local user who makes them (the remote login is root; -o owner=login turns it off)'
        : `new files belong to the remote login (uid ${stat.uid}): only a root login can give them the local caller's owner`);
      if (this.#mode === 'login') return stat;
    }
    const uid = this.#ids.toRemote(ctx.uid, 'uid');
    // A set-group-ID folder gives its group to what is made in it; the remote did that already.
    const gid = (dirMode & 0o2000) !== 0 ? stat.gid : this.#ids.toRemote(ctx.gid, 'gid');
    if (uid === stat.uid && gid === stat.gid) return stat;
    const type = stat.mode & S_IFMT;
    if (type === S_IFLNK && !this.#core.client.capabilities.noFollowSetattr) return stat;
    const { caller, client } = this.#core;
    try {
      const owner = { uid, gid };
      await (handle !== undefined
        ? caller.call('handle.setattr', path, () => handle.setattr(owner))
        : caller.call('setattr', path, () => client.setattr(path, owner, { noFollow: true })));
      // chown clears set-user-ID and set-group-ID on a file, even for root: put back what the caller asked for.
      const setId = stat.mode & 0o6000;
      if (setId !== 0 && type !== S_IFDIR && type !== S_IFLNK) {
        const mode = { mode: stat.mode & 0o7777 };
        await (handle !== undefined
          ? caller.call('handle.setattr', path, () => handle.setattr(mode))
          : caller.call('setattr', path, () => client.setattr(path, mode)));
      }
    } catch (error) {
      if (!isFsError(error, 'EPERM') && !isFsError(error, 'EACCES')) throw error;
      this.#log.warn(`owner=caller: the remote refused to give ${path} to uid ${uid}; new files keep the remote login's owner from now on`, error);
      this.#mode = 'login';
      return stat;
    }
    return { ...stat, uid, gid };
  }
}
