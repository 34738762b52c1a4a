import { realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { listRecords, type MountRecord } from '../mount/registry.ts';
import { toRemotePath } from './path-map.ts';

/** A recorded mount that contains a local path, and the spelling of its mountpoint that matched. */
export interface MountMatch {
  record: MountRecord;
  /** `record.mountpoint`, or the same folder with its parent's symlinks resolved (what getcwd shows). */
  mountpoint: string;
  /** Every spelling of the mountpoint: as recorded, and with its parent's symlinks resolved. */
  spellings: string[];
}

/**
 * The recorded mount (in runtime folder `dir`) whose folder holds absolute local `path`; the
 * innermost one when mounts nest. The mount root itself is never stat'ed (that would be a FUSE
 * round trip): only its parent is resolved.
 */
export async function findMountFor(dir: string, path: string): Promise<MountMatch | undefined> {
  let best: MountMatch | undefined;
  for (const record of await listRecords(dir)) {
    const spellings = [record.mountpoint];
    const parent = await realpath(dirname(record.mountpoint)).catch(() => undefined);
    if (parent !== undefined) {
      const resolved = parent === '/' ? `/${basename(record.mountpoint)}` : `${parent}/${basename(record.mountpoint)}`;
      if (resolved !== record.mountpoint) spellings.push(resolved);
    }
    for (const mountpoint of spellings) {
      if (toRemotePath({ mountpoint, remotePath: '/' }, path) === undefined) continue;
      if (best === undefined || mountpoint.length > best.mountpoint.length) best = { record, mountpoint, spellings };
    }
  }
  return best;
}
