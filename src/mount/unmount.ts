import { setTimeout as sleep } from 'node:timers/promises';
import { forceUnmount } from '../fuse/mount.ts';
import { NotFoundError } from '../remote/errors.ts';
import { canonicalMountpoint, findMount } from '../system/mountinfo.ts';
import { processAlive, readRecord, removeRecord, runtimeDir } from './registry.ts';

/** How an unmount went. */
export type UnmountResult = 'stopped' | 'forced';

/** How `unmount` waits. */
export interface UnmountOptions {
  env?: NodeJS.ProcessEnv;
  /** How long a daemon may take to stop before the mount is detached (default 15 s). */
  waitMs?: number;
  /**
   * True while the daemon is still at work on its way out (sending its write-back journal): the
   * `waitMs` limit then counts from the last time it was.
   */
  busy?: () => boolean;
}

/**
 * Unmounts `mountpointArg`: asks its daemon to stop (SIGTERM) and waits; when there is no live
 * daemon (killed, crashed: "Transport endpoint is not connected"), detaches the mount through
 * fusermount3. Throws NotFoundError when nothing is mounted there.
 */
export async function unmount(mountpointArg: string, options: UnmountOptions = {}): Promise<UnmountResult> {
  const mountpoint = await canonicalMountpoint(mountpointArg);
  const dir = await runtimeDir(options.env);
  const record = await readRecord(dir, mountpoint);
  const mounted = await findMount(mountpoint);
  if (record !== undefined && record.pid !== process.pid && processAlive(record.pid) && mounted !== undefined) {
    process.kill(record.pid, 'SIGTERM');
    const waitMs = options.waitMs ?? 15_000;
    let deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (options.busy?.() === true) deadline = Date.now() + waitMs;
      if (!processAlive(record.pid) && (await findMount(mountpoint)) === undefined) {
        await removeRecord(dir, mountpoint);
        return 'stopped';
      }
      await sleep(50);
    }
  }
  if (mounted === undefined && (await findMount(mountpoint)) === undefined) {
    await removeRecord(dir, mountpoint);
    if (record !== undefined) return 'stopped';
    throw new NotFoundError(`${mountpoint} is not mounted`, { suggestion: 'rmount status lists the mounts' });
  }
  await forceUnmount(mountpoint);
  await removeRecord(dir, mountpoint);
  return 'forced';
}
