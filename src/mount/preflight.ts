import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { NotFoundError, StateError, UnsupportedError, UsageError } from '../remote/errors.ts';
import { findMount } from '../system/mountinfo.ts';

/**
 * Checks what can be checked before connecting: /dev/fuse is there, and the mountpoint exists, is
 * a folder, is not mounted already, and is empty (unless `nonempty`). `mountpoint` is absolute.
 */
export async function checkMountpoint(mountpoint: string, nonempty: boolean): Promise<void> {
  if (!existsSync('/dev/fuse')) {
    throw new UnsupportedError('/dev/fuse is missing, so nothing can be mounted here', { suggestion: 'run `rmount doctor` for what to fix' });
  }
  let st;
  try {
    st = await stat(mountpoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN') {
      throw new StateError(`${mountpoint} is a stale mount (transport endpoint is not connected)`, { suggestion: `rmount unmount ${mountpoint}` });
    }
    throw new NotFoundError(`mountpoint ${mountpoint} does not exist`, { cause: error, suggestion: `mkdir -p ${mountpoint}` });
  }
  if (!st.isDirectory()) throw new UsageError(`mountpoint ${mountpoint} is not a folder`, { suggestion: 'mount on an empty folder' });
  if (await findMount(mountpoint)) {
    throw new StateError(`${mountpoint} is already a mountpoint`, { suggestion: `rmount unmount ${mountpoint}` });
  }
  if (!nonempty && (await readdir(mountpoint)).length > 0) {
    throw new UsageError(`mountpoint ${mountpoint} is not empty`, { suggestion: 'use an empty folder, or -o nonempty to mount over it' });
  }
}
