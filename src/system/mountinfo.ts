/**
 * The kernel's mount table, as /proc/self/mountinfo lists it, and the kernel's spelling of a
 * mountpoint. The one parser of that file: the daemon, `unmount`, the CLI and the FUSE layer
 * (which aborts a stuck connection by its device number) all read it here.
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

/** One line of /proc/self/mountinfo, in the fields rmount reads. */
export interface MountInfoEntry {
  /** `major:minor` of the mounted file system; the minor names a FUSE connection in fusectl. */
  device: string;
  mountpoint: string;
  fstype: string;
  source: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Parses /proc/self/mountinfo text, in the kernel's order (a later entry for the same mountpoint
 * is mounted on top of an earlier one). Fields: id parent major:minor root mountpoint options
 * [optional…] - fstype source super-options.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 5) continue;
    out.push({
      device: fields[2]!,
      mountpoint: unescape(fields[4]!),
      fstype: dash < 0 ? '' : fields[dash + 1] ?? '',
      source: dash < 0 ? '' : unescape(fields[dash + 2] ?? ''),
    });
  }
  return out;
}

/** The mounts of this machine, as the kernel reports them. */
export async function readMounts(): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount at exactly `mountpoint` (an absolute, resolved path), the top one if stacked. Never touches the mount itself. */
export async function findMount(mountpoint: string): Promise<MountInfoEntry | undefined> {
  const mounts = await readMounts();
  for (let i = mounts.length - 1; i >= 0; i--) if (mounts[i]!.mountpoint === mountpoint) return mounts[i];
  return undefined;
}

/**
 * The path the kernel will show for a mountpoint: absolute, with its parent's symlinks resolved.
 * The mountpoint itself is not resolved (it may be a stale mount that cannot be stat'ed).
 */
export async function canonicalMountpoint(path: string): Promise<string> {
  const absolute = resolve(path);
  if (absolute === '/') return absolute;
  const parent = await realpath(dirname(absolute)).catch(() => dirname(absolute));
  return parent === '/' ? `/${basename(absolute)}` : `${parent}/${basename(absolute)}`;
}
