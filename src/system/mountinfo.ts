import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

/** One line of /proc/self/mountinfo that matters to rmount. */
export interface MountInfoEntry {
  mountpoint: string;
  fstype: string;
  source: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/self/mountinfo text. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0 || fields.length < dash + 3) continue;
    out.push({ mountpoint: unescape(fields[4]!), fstype: fields[dash + 1]!, source: unescape(fields[dash + 2]!) });
  }
  return out;
}

/** The mounts of this machine, as the kernel reports them. */
export async function readMounts(): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount at exactly `mountpoint` (an absolute, resolved path), if any. */
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
