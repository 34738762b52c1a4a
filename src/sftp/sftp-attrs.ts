/**
 * Attribute conversion between the FileClient contract and SFTP: ATTRS ↔ FileStat/SetAttr,
 * statvfs replies, open flags. Pure functions, no I/O.
 */

import { isDirMode, type FileStat, type OpenFlags, type SetAttr, type StatFs, type Timespec } from '../remote/file-client.ts';
import { PFLAG, RMOUNT_EXT } from './constants.ts';
import type { SftpAttrs } from './packet.ts';
import type { SftpSetstatNs, SftpStatvfs } from './sftp-client.ts';

/** Totals reported by `statfs` when the server has no statvfs@openssh.com (as sshfs does). */
export const MADE_UP_STATFS: StatFs = {
  bsize: 4096,
  frsize: 4096,
  blocks: 2 ** 31,
  bfree: 2 ** 30,
  bavail: 2 ** 30,
  files: 2 ** 24,
  ffree: 2 ** 23,
  favail: 2 ** 23,
  flag: 0,
  namemax: 255,
};

const UINT32_MAX = 0xffff_ffff;

/** Size of the attrs@rmount data: 5 × uint64, then 3 × (int64 sec, uint32 nsec). */
const RMOUNT_ATTRS_SIZE = 5 * 8 + 3 * 12;

/**
 * SFTP ATTRS → FileStat. v3 has no inode, link count, ctime or nanoseconds: those stay absent,
 * unless rmount-agent's attrs@rmount pair carries them.
 */
export function toFileStat(a: SftpAttrs): FileStat {
  const st: FileStat = {
    mode: a.permissions ?? 0,
    size: a.size ?? 0,
    uid: a.uid ?? 0,
    gid: a.gid ?? 0,
    atime: { sec: a.atime ?? 0, nsec: 0 },
    mtime: { sec: a.mtime ?? 0, nsec: 0 },
  };
  const ext = a.extended?.find(([name]) => name === RMOUNT_EXT.ATTRS)?.[1];
  if (ext !== undefined && ext.length >= RMOUNT_ATTRS_SIZE) {
    const u64 = (at: number): number => Number(ext.readBigUInt64BE(at));
    const time = (at: number): Timespec => ({ sec: Number(ext.readBigInt64BE(at)), nsec: ext.readUInt32BE(at + 8) });
    st.ino = u64(0);
    st.nlink = u64(8);
    st.dev = u64(16);
    st.rdev = u64(24);
    st.blocks = u64(32);
    st.atime = time(40);
    st.mtime = time(52);
    st.ctime = time(64);
  }
  return st;
}

/** statvfs@openssh.com's reply without the file system id, which statvfs(3) callers never see. */
export function toStatFs({ fsid: _fsid, ...statfs }: SftpStatvfs): StatFs {
  return statfs;
}

/** FileClient open flags → SSH_FXF_* pflags. */
export function toPflags(flags: OpenFlags): number {
  let p = 0;
  if (flags.read) p |= PFLAG.READ;
  if (flags.write || flags.append) p |= PFLAG.WRITE;
  if (flags.append) p |= PFLAG.APPEND;
  if (flags.create) p |= PFLAG.CREAT;
  if (flags.create && flags.exclusive) p |= PFLAG.EXCL;
  if (flags.truncate) p |= PFLAG.TRUNC;
  return p;
}

function seconds(t: Timespec | 'now'): number {
  const sec = t === 'now' ? Math.floor(Date.now() / 1000) : t.sec;
  return Math.min(Math.max(Math.floor(sec), 0), UINT32_MAX);
}

/** True for ATTRS of a folder; false when the type is unknown. */
export function isDir(a: SftpAttrs | undefined): boolean {
  return a?.permissions !== undefined && isDirMode(a.permissions);
}

/** SetAttr → the fields of setstat@rmount (nanoseconds, per-field omission). */
export function toSetstatNs(s: SetAttr): SftpSetstatNs {
  const a: SftpSetstatNs = {};
  if (s.size !== undefined) a.size = s.size;
  if (s.mode !== undefined) a.mode = s.mode & 0o7777;
  if (s.uid !== undefined) a.uid = s.uid;
  if (s.gid !== undefined) a.gid = s.gid;
  if (s.atime !== undefined) a.atime = s.atime;
  if (s.mtime !== undefined) a.mtime = s.mtime;
  return a;
}

/** v3 sets uid with gid and atime with mtime: true when only one of a pair is given. */
export function needsCurrent(a: SetAttr): boolean {
  return (a.uid === undefined) !== (a.gid === undefined) || (a.atime === undefined) !== (a.mtime === undefined);
}

/** SetAttr → ATTRS, filling the missing half of a uid/gid or atime/mtime pair from `current`. */
export function toSftpAttrs(s: SetAttr, current: SftpAttrs | undefined): SftpAttrs {
  const a: SftpAttrs = {};
  if (s.size !== undefined) a.size = s.size;
  if (s.mode !== undefined) a.permissions = s.mode & 0o7777;
  if (s.uid !== undefined || s.gid !== undefined) {
    a.uid = s.uid ?? current?.uid ?? UINT32_MAX;
    a.gid = s.gid ?? current?.gid ?? UINT32_MAX;
  }
  if (s.atime !== undefined || s.mtime !== undefined) {
    a.atime = s.atime !== undefined ? seconds(s.atime) : current?.atime ?? seconds('now');
    a.mtime = s.mtime !== undefined ? seconds(s.mtime) : current?.mtime ?? seconds('now');
  }
  return a;
}
