import type { DirEntry, FileStat } from '../remote/file-client.ts';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK } from '../remote/file-client.ts';

const TYPE_CHARS: Record<number, string> = {
  [S_IFDIR]: 'd', [S_IFLNK]: 'l', [S_IFCHR]: 'c', [S_IFBLK]: 'b', [S_IFIFO]: 'p', [S_IFSOCK]: 's',
};

/** `ls -l` style mode string, e.g. "drwxr-xr-x". */
export function formatMode(mode: number): string {
  const type = TYPE_CHARS[mode & S_IFMT] ?? '-';
  const bits = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  const chars = out.split('');
  if (mode & 0o4000) chars[2] = chars[2] === 'x' ? 's' : 'S';
  if (mode & 0o2000) chars[5] = chars[5] === 'x' ? 's' : 'S';
  if (mode & 0o1000) chars[8] = chars[8] === 'x' ? 't' : 'T';
  return type + chars.join('');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function formatTime(sec: number, now: number): string {
  const d = new Date(sec * 1000);
  const day = String(d.getDate()).padStart(2, ' ');
  const recent = Math.abs(now - sec * 1000) < 180 * 24 * 3600 * 1000;
  const tail = recent ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${day} ${tail}`;
}

/** One row of a long listing for `name` with attributes `st` (and a symlink's target). */
export interface ListingRow {
  name: string;
  stat: FileStat;
  target?: string;
}

/** Renders rows as `ls -l` does, columns aligned; names are shown as they are. */
export function formatListing(rows: readonly ListingRow[], now = Date.now()): string {
  const cols = rows.map(r => [
    formatMode(r.stat.mode),
    String(r.stat.nlink ?? ((r.stat.mode & S_IFMT) === S_IFDIR ? 2 : 1)),
    String(r.stat.uid),
    String(r.stat.gid),
    String(r.stat.size),
    formatTime(r.stat.mtime.sec, now),
    r.target === undefined ? r.name : `${r.name} -> ${r.target}`,
  ]);
  const widths = [0, 1, 2, 3, 4].map(i => Math.max(0, ...cols.map(c => c[i]!.length)));
  return cols.map(c => [
    c[0], c[1]!.padStart(widths[1]!), c[2]!.padEnd(widths[2]!), c[3]!.padEnd(widths[3]!),
    c[4]!.padStart(widths[4]!), c[5], c[6],
  ].join(' ')).join('\n');
}

/** Sorts directory entries by name (bytewise, as `LC_ALL=C ls`). */
export function sortEntries(entries: DirEntry[]): DirEntry[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A span of whole seconds, short: 42s, 3m07s, 2h05m. */
export function formatUptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A byte count in binary units: 512 B, 3.5 KiB, 12.0 MiB, 1.25 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
