/**
 * rmount-agent's own requests (RMOUNT_EXT), each with its wire layout; native/agent/PROTOCOL.md is
 * the other side. A server that is not the agent advertises none of them.
 */

import { batchOpBytes, type BatchOp, type PutFileOptions } from '../remote/file-client.ts';
import { FXP, RMOUNT_BATCH, RMOUNT_BATCH_RENAME, RMOUNT_EXT, RMOUNT_SET, RMOUNT_SETSTAT_FLAG, STATUS } from './constants.ts';
import { SftpProtocolError, type PacketReader, type PacketWriter } from './packet.ts';
import { expect, expectStatus, type SftpSmallFile, type SftpTreeEntry } from './replies.ts';
import { toSetstatNs } from './sftp-attrs.ts';
import type { SftpConnection } from './sftp-connection.ts';
import { SftpStatusError } from './status.ts';

/** The fields of setstat@rmount; absent fields are left as they are. */
export interface SftpSetstatNs {
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: { sec: number; nsec: number } | 'now';
  mtime?: { sec: number; nsec: number } | 'now';
}

/** One folder of a listings@rmount reply: its path relative to the request's ("" for itself) and its entries by name. */
export interface SftpListing {
  folder: string;
  entries: SftpTreeEntry[];
}

/** A listings@rmount reply. */
export interface SftpListings {
  truncated: boolean;
  folders: SftpListing[];
}

/** The rmount extensions over one connection. */
export class RmountExtensions {
  readonly #conn: SftpConnection;

  constructor(conn: SftpConnection) {
    this.#conn = conn;
  }

  /**
   * Sets the receiver of unsolicited packets (watch@rmount events). It gets a reader positioned
   * after the request id and must not throw.
   */
  setEventListener(listener: ((r: PacketReader) => void) | undefined): void {
    this.#conn.setEventListener(listener);
  }

  // EXTENDED "end@rmount" → STATUS
  /** end@rmount: a durable session ends when this connection closes instead of waiting for a new one. */
  end(): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.END, undefined, expectStatus);
  }

  // EXTENDED "setstat@rmount", setstat fields (see writeSetstat) → STATUS
  /** setstat@rmount: every field optional, times with nanoseconds or 'now'. */
  setstat(target: string | Buffer, flags: number, a: SftpSetstatNs): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.SETSTAT, w => writeSetstat(w, target, flags, a), expectStatus);
  }

  // EXTENDED "mknod@rmount", string path, uint32 mode, uint64 rdev → STATUS
  /** mknod@rmount: `mode` carries the S_IFMT type and the permission bits; `rdev` is the Linux st_rdev of a device. */
  mknod(path: string, mode: number, rdev: number): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.MKNOD, w => w.string(path).u32(mode).u64(rdev), expectStatus);
  }

  // EXTENDED "putfile@rmount", putfile fields (see writePut) → STATUS
  /** putfile@rmount: a whole small file with its mode, times, owner (when given) and an fsync when asked. */
  putFile(path: string, data: Uint8Array, p: PutFileOptions): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.PUTFILE, w => writePut(w, path, data, p), expectStatus, 128 + Buffer.byteLength(path) + data.byteLength);
  }

  // EXTENDED "batch@rmount", uint32 count, (byte kind, item)* →
  // EXTENDED_REPLY uint32 count, (uint32 status, string errno-name-or-empty)*
  /**
   * batch@rmount: `ops` done in order by the agent in one request. Resolves with each op's
   * failure as the STATUS its own request would have answered, undefined where it succeeded.
   */
  batch(ops: readonly BatchOp[]): Promise<(SftpStatusError | undefined)[]> {
    const size = 64 + ops.reduce((n, op) => n + batchOpBytes(op), 0);
    return this.#conn.extended(RMOUNT_EXT.BATCH, w => {
      w.u32(ops.length);
      for (const op of ops) writeBatchItem(w, op);
    }, expect(FXP.EXTENDED_REPLY, r => {
      const n = r.u32();
      if (n !== ops.length) throw new SftpProtocolError(`${RMOUNT_EXT.BATCH}: ${n} statuses for ${ops.length} items`);
      const out: (SftpStatusError | undefined)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const code = r.u32();
        const message = r.string();
        out[i] = code === STATUS.OK ? undefined : new SftpStatusError(code, message, `${RMOUNT_EXT.BATCH} ${ops[i]!.kind}`);
      }
      return out;
    }), size);
  }

  // EXTENDED "readdir@rmount", string path → EXTENDED_REPLY uint32 count, (string name, ATTRS)*
  /** readdir@rmount: every entry of a folder (lstat attributes) in one round trip. */
  readdir(path: string): Promise<SftpTreeEntry[]> {
    return this.#conn.extended(RMOUNT_EXT.READDIR, w => w.string(path), expect(FXP.EXTENDED_REPLY, r => {
      const n = r.u32();
      const out: SftpTreeEntry[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = { path: r.string(), attrs: r.attrs() };
      return out;
    }));
  }

  // EXTENDED "tree@rmount", string path, uint32 max-depth, uint32 max-entries →
  // EXTENDED_REPLY uint32 flags (1 = truncated), uint32 count, (string relative-path, ATTRS)*
  /** tree@rmount: a subtree's paths and attributes, breadth first; 0 means no limit. */
  tree(path: string, maxDepth = 0, maxEntries = 0): Promise<{ truncated: boolean; entries: SftpTreeEntry[] }> {
    return this.#conn.extended(RMOUNT_EXT.TREE, w => w.string(path).u32(maxDepth).u32(maxEntries), expect(FXP.EXTENDED_REPLY, r => {
      const truncated = (r.u32() & 1) !== 0;
      const n = r.u32();
      const entries: SftpTreeEntry[] = new Array(n);
      for (let i = 0; i < n; i++) entries[i] = { path: r.string(), attrs: r.attrs() };
      return { truncated, entries };
    }));
  }

  // EXTENDED "listings@rmount", string path, uint32 max-depth, uint32 max-entries →
  // EXTENDED_REPLY uint32 flags (1 = truncated), uint32 folder-count,
  // (string relative-folder, uint32 entry-count, (string name, ATTRS)*)*
  /** listings@rmount: complete folder listings below `path`, breadth first; 0 means no limit. */
  listings(path: string, maxDepth: number, maxEntries: number): Promise<SftpListings> {
    return this.#conn.extended(RMOUNT_EXT.LISTINGS, w => w.string(path).u32(maxDepth).u32(maxEntries), expect(FXP.EXTENDED_REPLY, r => {
      const truncated = (r.u32() & 1) !== 0;
      const n = r.u32();
      const folders: SftpListing[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const folder = r.string();
        const count = r.u32();
        const entries: SftpTreeEntry[] = new Array(count);
        for (let j = 0; j < count; j++) entries[j] = { path: r.string(), attrs: r.attrs() };
        folders[i] = { folder, entries };
      }
      return { truncated, folders };
    }));
  }

  // EXTENDED "readfiles@rmount", uint32 max-bytes-per-file, uint32 count, string path* →
  // EXTENDED_REPLY uint32 count, (string errno-or-empty, ATTRS, string data)*
  /** readfiles@rmount: the first `maxBytes` of each file, in one round trip. */
  readFiles(paths: readonly string[], maxBytes: number): Promise<SftpSmallFile[]> {
    return this.#conn.extended(RMOUNT_EXT.READFILES, w => {
      w.u32(maxBytes).u32(paths.length);
      for (const p of paths) w.string(p);
    }, expect(FXP.EXTENDED_REPLY, r => {
      const n = r.u32();
      const out: SftpSmallFile[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const error = r.string();
        const attrs = r.attrs();
        const data = Buffer.from(r.bytes());
        out[i] = error === '' ? { attrs, data } : { error };
      }
      return out;
    }), 64 + paths.reduce((n, p) => n + 4 + Buffer.byteLength(p), 0));
  }

  // EXTENDED "watch@rmount", string path → EXTENDED_REPLY uint32 watch-id
  /** watch@rmount: subscribes to changes under a folder; events go to the event listener. */
  watch(path: string): Promise<number> {
    return this.#conn.extended(RMOUNT_EXT.WATCH, w => w.string(path), expect(FXP.EXTENDED_REPLY, r => r.u32()));
  }

  // EXTENDED "watchsync@rmount", uint32 watch-id → STATUS
  /** watchsync@rmount: answered once the changes queued for the watch are pushed (events come first). */
  watchSync(id: number): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.WATCH_SYNC, w => w.u32(id), expectStatus);
  }

  // EXTENDED "unwatch@rmount", uint32 watch-id → STATUS
  /** unwatch@rmount. */
  unwatch(id: number): Promise<void> {
    return this.#conn.extended(RMOUNT_EXT.UNWATCH, w => w.u32(id), expectStatus);
  }
}

// uint32 flags, string path-or-handle, uint32 valid, uint64 size, uint32 mode, uint32 uid,
// uint32 gid, int64 atime-sec, uint32 atime-nsec, int64 mtime-sec, uint32 mtime-nsec
function writeSetstat(w: PacketWriter, target: string | Buffer, flags: number, a: SftpSetstatNs): void {
  let valid = 0;
  if (a.size !== undefined) valid |= RMOUNT_SET.SIZE;
  if (a.mode !== undefined) valid |= RMOUNT_SET.MODE;
  if (a.uid !== undefined) valid |= RMOUNT_SET.UID;
  if (a.gid !== undefined) valid |= RMOUNT_SET.GID;
  if (a.atime !== undefined) valid |= a.atime === 'now' ? RMOUNT_SET.ATIME_NOW : RMOUNT_SET.ATIME;
  if (a.mtime !== undefined) valid |= a.mtime === 'now' ? RMOUNT_SET.MTIME_NOW : RMOUNT_SET.MTIME;
  const at = a.atime === undefined || a.atime === 'now' ? { sec: 0, nsec: 0 } : a.atime;
  const mt = a.mtime === undefined || a.mtime === 'now' ? { sec: 0, nsec: 0 } : a.mtime;
  w.u32(flags).string(target).u32(valid).u64(a.size ?? 0)
    .u32(a.mode ?? 0).u32(a.uid ?? 0).u32(a.gid ?? 0).i64(at.sec).u32(at.nsec).i64(mt.sec).u32(mt.nsec);
}

// uint32 flags, string path, uint32 mode, uint32 valid, uint32 uid, uint32 gid, int64 atime-sec,
// uint32 atime-nsec, int64 mtime-sec, uint32 mtime-nsec, string data
function writePut(w: PacketWriter, path: string, data: Uint8Array, p: PutFileOptions): void {
  // Flag 4: a chown the login may not make is skipped, as PutFileOptions promises.
  const flags = (p.exclusive === true ? 1 : 0) | (p.sync === true ? 2 : 0) | 4;
  let valid = 0;
  if (p.uid !== undefined) valid |= RMOUNT_SET.UID;
  if (p.gid !== undefined) valid |= RMOUNT_SET.GID;
  w.u32(flags).string(path).u32(p.mode).u32(valid).u32(p.uid ?? 0).u32(p.gid ?? 0)
    .i64(p.atime.sec).u32(p.atime.nsec).i64(p.mtime.sec).u32(p.mtime.nsec).string(data);
}

// byte kind, then: put and setstat the bodies of putfile@rmount and setstat@rmount; mkdir string
// path, uint32 mode; symlink string target, string path; unlink and rmdir string path; rename
// uint32 flags, string from, string to; link string existing, string path
function writeBatchItem(w: PacketWriter, op: BatchOp): void {
  switch (op.kind) {
    case 'put':
      writePut(w.u8(RMOUNT_BATCH.PUT), op.path, op.data, op.options);
      return;
    case 'mkdir':
      w.u8(RMOUNT_BATCH.MKDIR).string(op.path).u32(op.mode & 0o7777);
      return;
    case 'symlink':
      w.u8(RMOUNT_BATCH.SYMLINK).string(op.target).string(op.path);
      return;
    case 'unlink':
      w.u8(RMOUNT_BATCH.UNLINK).string(op.path);
      return;
    case 'rmdir':
      w.u8(RMOUNT_BATCH.RMDIR).string(op.path);
      return;
    case 'rename':
      w.u8(RMOUNT_BATCH.RENAME).u32(op.noReplace === true ? RMOUNT_BATCH_RENAME.NOREPLACE : 0).string(op.from).string(op.to);
      return;
    case 'link':
      w.u8(RMOUNT_BATCH.LINK).string(op.existing).string(op.path);
      return;
    case 'setattr':
      writeSetstat(w.u8(RMOUNT_BATCH.SETSTAT), op.path, op.noFollow === true ? RMOUNT_SETSTAT_FLAG.NOFOLLOW : 0, toSetstatNs(op.attrs));
      return;
  }
}
