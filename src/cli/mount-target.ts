import { posix, resolve } from 'node:path';
import type { PathMapping } from '../exec/path-map.ts';
import { UsageError } from '../remote/errors.ts';
import type { CliContext } from './context.ts';

/** A mount that a command reaches through its control socket, and the remote folder to use. */
export interface MountTarget {
  socket: string;
  /** The remote folder matching the current one (or `--cwd`, mapped). */
  cwd: string;
  /** Local mountpoint ↔ remote path, for mapping arguments and output. */
  mapping: PathMapping;
  mountpoint: string;
}

/**
 * The mount that holds `inFlag` (a local folder) or the current folder, with the remote folder
 * matching the current one; undefined when there is none (the caller may then connect directly).
 * `cwdFlag`: an absolute local path under the mount is mapped, a relative one is taken from here.
 */
export async function findMountTarget(ctx: CliContext, inFlag: string | undefined, cwdFlag: string | undefined): Promise<MountTarget | undefined> {
  const { runtimeDir } = await import('../mount/registry.ts');
  const { findMountFor } = await import('../exec/find-mount.ts');
  const { toRemotePath } = await import('../exec/path-map.ts');
  const { canonicalMountpoint } = await import('../system/mountinfo.ts');
  const dir = await runtimeDir(ctx.env);
  const here = process.cwd();
  // Records hold canonical mountpoints (the kernel's spelling): resolve --in's symlinks the same way.
  const where = inFlag === undefined ? here : await canonicalMountpoint(inFlag).catch(() => undefined);
  if (where === undefined) return undefined;
  const match = await findMountFor(dir, where);
  if (match === undefined) return undefined;
  // The current folder (getcwd resolves symlinks, so any spelling of the mountpoint may hold it)
  // when it is inside this mount, else the folder named by --in.
  const hereMapping = match.spellings
    .map(mountpoint => ({ mountpoint, remotePath: match.record.remotePath }))
    .find(m => toRemotePath(m, here) !== undefined);
  const mapping = hereMapping ?? { mountpoint: match.mountpoint, remotePath: match.record.remotePath };
  const base = toRemotePath(mapping, here) ?? toRemotePath(mapping, where)!;
  let cwd = base;
  if (cwdFlag !== undefined) {
    cwd = cwdFlag.startsWith('/') ? (toRemotePath(mapping, cwdFlag) ?? cwdFlag)
      : toRemotePath(mapping, resolve(here, cwdFlag)) ?? posix.join(base, cwdFlag);
  }
  if (match.record.socket === undefined) {
    throw new UsageError(`the mount on ${match.record.mountpoint} serves no control socket (its daemon predates it)`, { suggestion: `remount it: rmount unmount ${match.record.mountpoint}` });
  }
  return { socket: match.record.socket, cwd, mapping, mountpoint: match.mountpoint };
}
