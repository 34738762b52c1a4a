import type { SetattrIn } from '../fuse/operations.ts';
import type { FileStat, SetAttr } from '../remote/file-client.ts';
import type { ResolvedWorkspaceOptions } from './options.ts';

type IdOptions = Pick<ResolvedWorkspaceOptions, 'idmap' | 'uid' | 'gid' | 'localUid' | 'localGid'>;

/**
 * Owner ids as this mount shows them and their inverse: with idmap=user the remote owner of the
 * root shows as the local user; fixed `uid=`/`gid=` options win over that.
 */
export class IdMap {
  readonly #opts: IdOptions;
  /** Written only by `load`, once, from an lstat of the root. */
  #rootOwner: { uid: number; gid: number } | undefined;
  #loading: Promise<void> | undefined;

  constructor(opts: IdOptions) {
    this.#opts = opts;
  }

  /** True until the root owner is known, when the mapping needs it. */
  get needsRootOwner(): boolean {
    return this.#rootOwner === undefined && this.#opts.idmap === 'user'
      && (this.#opts.uid === undefined || this.#opts.gid === undefined);
  }

  /** Learns the root owner from `statRoot` (one call shared by concurrent ops; retried after a failure). */
  async load(statRoot: () => Promise<FileStat>): Promise<void> {
    this.#loading ??= (async () => {
      try {
        const stat = await statRoot();
        this.#rootOwner = { uid: stat.uid, gid: stat.gid };
      } finally {
        this.#loading = undefined;
      }
    })();
    await this.#loading;
  }

  /** The owner of a remote file as the kernel is shown it. */
  toLocal(stat: Pick<FileStat, 'uid' | 'gid'>): { uid: number; gid: number } {
    const owner = this.#rootOwner;
    const mapped = this.#opts.idmap === 'user' && owner !== undefined;
    return {
      uid: this.#opts.uid ?? (mapped && stat.uid === owner.uid ? this.#opts.localUid : stat.uid),
      gid: this.#opts.gid ?? (mapped && stat.gid === owner.gid ? this.#opts.localGid : stat.gid),
    };
  }

  /** A local id as the remote knows it (inverse of {@link toLocal}). */
  toRemote(id: number, which: 'uid' | 'gid'): number {
    const owner = this.#rootOwner;
    if (owner === undefined) return id;
    const fixed = which === 'uid' ? this.#opts.uid : this.#opts.gid;
    if (fixed !== undefined) return id === fixed ? owner[which] : id;
    const local = which === 'uid' ? this.#opts.localUid : this.#opts.localGid;
    return this.#opts.idmap === 'user' && id === local ? owner[which] : id;
  }

  /** A kernel setattr as the remote should get it: only the fields that change, ids mapped back. */
  toRemoteSetAttr(changes: SetattrIn): SetAttr {
    const attrs: SetAttr = {};
    if (changes.mode !== undefined) attrs.mode = changes.mode & 0o7777;
    if (changes.uid !== undefined) attrs.uid = this.toRemote(changes.uid, 'uid');
    if (changes.gid !== undefined) attrs.gid = this.toRemote(changes.gid, 'gid');
    if (changes.size !== undefined) attrs.size = changes.size;
    if (changes.atime !== undefined) attrs.atime = changes.atime;
    if (changes.mtime !== undefined) attrs.mtime = changes.mtime;
    return attrs;
  }
}
