/**
 * Numbers of SFTP protocol version 3 (draft-ietf-secsh-filexfer-02) and the names of the OpenSSH
 * extensions rmount negotiates (OpenSSH's PROTOCOL file, section 4).
 */

/** The protocol version the client asks for and the only one it speaks. */
export const SFTP_VERSION = 3;

/** Packet types. */
export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/**
 * Status codes. Version 3 defines 0–8; 9–24 come from later drafts and are understood because some
 * servers send them whatever version was negotiated.
 */
export const STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
  INVALID_HANDLE: 9,
  NO_SUCH_PATH: 10,
  FILE_ALREADY_EXISTS: 11,
  WRITE_PROTECT: 12,
  NO_MEDIA: 13,
  NO_SPACE_ON_FILESYSTEM: 14,
  QUOTA_EXCEEDED: 15,
  UNKNOWN_PRINCIPAL: 16,
  LOCK_CONFLICT: 17,
  DIR_NOT_EMPTY: 18,
  NOT_A_DIRECTORY: 19,
  INVALID_FILENAME: 20,
  LINK_LOOP: 21,
  CANNOT_DELETE: 22,
  INVALID_PARAMETER: 23,
  FILE_IS_A_DIRECTORY: 24,
} as const;

/** Which fields an ATTRS structure carries. */
export const ATTR = {
  SIZE: 0x00000001,
  UIDGID: 0x00000002,
  PERMISSIONS: 0x00000004,
  ACMODTIME: 0x00000008,
  EXTENDED: 0x80000000,
} as const;

/** Open flags of SSH_FXP_OPEN. */
export const PFLAG = {
  READ: 0x00000001,
  WRITE: 0x00000002,
  APPEND: 0x00000004,
  CREAT: 0x00000008,
  TRUNC: 0x00000010,
  EXCL: 0x00000020,
} as const;

/** `f_flag` bits of the statvfs@openssh.com reply. */
export const STATVFS_FLAG = {
  RDONLY: 0x1,
  NOSUID: 0x2,
} as const;

/** Extension names as advertised in SSH_FXP_VERSION and sent in SSH_FXP_EXTENDED. */
export const EXT = {
  POSIX_RENAME: 'posix-rename@openssh.com',
  STATVFS: 'statvfs@openssh.com',
  FSTATVFS: 'fstatvfs@openssh.com',
  HARDLINK: 'hardlink@openssh.com',
  FSYNC: 'fsync@openssh.com',
  LSETSTAT: 'lsetstat@openssh.com',
  LIMITS: 'limits@openssh.com',
  EXPAND_PATH: 'expand-path@openssh.com',
  COPY_DATA: 'copy-data',
} as const;

/** rmount-agent's own extensions; their wire formats are in native/agent/PROTOCOL.md. */
export const RMOUNT_EXT = {
  /** Every failure's status message is an exact errno name. */
  ERRNO: 'errno@rmount',
  /** Every ATTRS carries an extended pair of this name: inode, nlink, dev, rdev, blocks, ns times. */
  ATTRS: 'attrs@rmount',
  /** SETSTAT with nanosecond times, UTIME_NOW and per-field omission, by path or handle. */
  SETSTAT: 'setstat@rmount',
  /** A whole directory's names and attributes in one reply. */
  READDIR: 'readdir@rmount',
  /** A whole subtree's relative paths and attributes in one reply. */
  TREE: 'tree@rmount',
  /** Complete listings of a folder and the folders below it, breadth first, in one reply. */
  LISTINGS: 'listings@rmount',
  /** The first bytes of many files in one reply. */
  READFILES: 'readfiles@rmount',
  /** Subscribe to changes under a folder; events arrive as EXTENDED_REPLY with id EVENT_ID. */
  WATCH: 'watch@rmount',
  UNWATCH: 'unwatch@rmount',
  WATCH_SYNC: 'watchsync@rmount',
  /** The client is done with a durable agent session for good: it ends when the connection closes. */
  END: 'end@rmount',
  /** Makes a FIFO, socket file, device node or empty regular file. */
  MKNOD: 'mknod@rmount',
  /** A whole small file (content, mode, owner, times, fsync) in one request. */
  PUTFILE: 'putfile@rmount',
  /** Many changes (puts, mkdirs, renames, setstats, ...) in one request, a status for each. */
  BATCH: 'batch@rmount',
} as const;

/** Request id of unsolicited EXTENDED_REPLY packets (watch events); never allocated to a request. */
export const EVENT_ID = 0xffff_ffff;

/** Mask bits of a watch@rmount event. */
export const WATCH_MASK = {
  CREATE: 1 << 0,
  REMOVE: 1 << 1,
  MODIFY: 1 << 2,
  ATTRIB: 1 << 3,
  RENAME: 1 << 4,
  RESCAN: 0x8000_0000,
  /** With RESCAN: a folder could not be watched, so changes below it are not reported. */
  UNWATCHED: 0x4000_0000,
} as const;

/** `valid` bits of setstat@rmount. */
export const RMOUNT_SET = {
  SIZE: 1 << 0,
  MODE: 1 << 1,
  UID: 1 << 2,
  GID: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 6,
  MTIME_NOW: 1 << 7,
} as const;

/** `flags` bits of setstat@rmount. */
export const RMOUNT_SETSTAT_FLAG = {
  NOFOLLOW: 1 << 0,
  HANDLE: 1 << 1,
} as const;

/** Item kinds of batch@rmount. */
export const RMOUNT_BATCH = {
  PUT: 1,
  MKDIR: 2,
  SYMLINK: 3,
  UNLINK: 4,
  RMDIR: 5,
  RENAME: 6,
  LINK: 7,
  SETSTAT: 8,
} as const;

/** `flags` bits of a batch@rmount rename item. */
export const RMOUNT_BATCH_RENAME = {
  NOREPLACE: 1 << 0,
} as const;

/** Read/write size every v3 server must accept; used when the server does not offer limits. */
export const DEFAULT_IO_SIZE = 32 * 1024;

/** Default cap on read and write bytes in flight per client (sshfs keeps a few MiB outstanding). */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/**
 * Largest packet the reader accepts. Far above any sane reply (OpenSSH sends at most 256 KiB);
 * anything bigger means the stream is not carrying SFTP and the connection is dropped.
 */
export const MAX_INCOMING_PACKET = 64 * 1024 * 1024;

/** Reverse lookup for diagnostics: packet type number → name. */
export function packetTypeName(type: number): string {
  for (const [name, value] of Object.entries(FXP)) if (value === type) return name;
  return `UNKNOWN(${type})`;
}
