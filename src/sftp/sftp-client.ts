/**
 * The SFTP v3 operations and the OpenSSH extensions, one method per request, each with its wire
 * layout: what `SftpConnection` sends and how the reply is decoded. It speaks in SFTP terms
 * (handles are byte strings, attributes are ATTRS, failures are `SftpStatusError` and
 * `SftpConnectionError`); `SftpFileClient` turns that into the FileClient contract.
 */

import type { Duplex } from 'node:stream';
import { DEFAULT_IO_SIZE, DEFAULT_MAX_BYTES_IN_FLIGHT, EXT, FXP, STATUS } from './constants.ts';
import { SftpProtocolError, type SftpAttrs } from './packet.ts';
import {
  expect, expectAttrs, expectExtendedReply, expectFirstName, expectHandle, expectStatus, readNames, readStatus,
  readStatvfs, unexpected, type SftpName, type SftpStatvfs,
} from './replies.ts';
import { ByteBudget } from './byte-budget.ts';
import { RmountExtensions } from './rmount-extensions.ts';
import { SftpConnection } from './sftp-connection.ts';
import { SftpStatusError } from './status.ts';

export type { SftpName, SftpSmallFile, SftpStatvfs, SftpTreeEntry } from './replies.ts';
export type { SftpSetstatNs } from './rmount-extensions.ts';

/** Sizes the server accepts, from limits@openssh.com or the v3 defaults. */
export interface SftpLimits {
  /** Largest packet the server accepts, 0 when it did not say. */
  maxPacket: number;
  /** Largest read one request may ask for. */
  maxRead: number;
  /** Largest write one request may carry. */
  maxWrite: number;
  /** Open handles the server allows, 0 when it did not say. */
  maxOpenHandles: number;
}

/** Options of `SftpClient.connect`. */
export interface SftpClientOptions {
  /** Cap on read and write payload bytes awaiting a reply (default 8 MiB). */
  maxBytesInFlight?: number;
  /** A label for messages ("sftp over ssh://host"). */
  name?: string;
  /** Aborts the handshake. */
  signal?: AbortSignal;
  /**
   * The caller already wrote INIT (`sftpInitPacket`) behind a preamble the server reads first (the
   * agent's session line): the handshake only waits for VERSION, one round trip less.
   */
  initSent?: boolean;
}

/** Upper bound on the negotiated read/write size. */
const MAX_IO_SIZE = 4 * 1024 * 1024;

/**
 * A promise-native SFTP v3 client over one `SftpConnection`, with the negotiated limits and the
 * cap on read/write bytes in flight. rmount-agent's own requests are under `rmount`.
 */
export class SftpClient {
  readonly #conn: SftpConnection;
  readonly #budget: ByteBudget;
  #limits: SftpLimits = { maxPacket: 0, maxRead: DEFAULT_IO_SIZE, maxWrite: DEFAULT_IO_SIZE, maxOpenHandles: 0 };
  /** The requests only rmount-agent answers (check `has` first). */
  readonly rmount: RmountExtensions;

  private constructor(conn: SftpConnection, options: SftpClientOptions) {
    this.#conn = conn;
    this.#budget = new ByteBudget(Math.max(options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT, 1));
    this.rmount = new RmountExtensions(conn);
  }

  /**
   * Runs the INIT/VERSION handshake on `stream` and negotiates limits@openssh.com when offered.
   * The stream belongs to the caller until this resolves, then to the client (`end()` ends it).
   * @throws SftpConnectionError when the stream closes or the server speaks no SFTP v3.
   */
  static async connect(stream: Duplex, options: SftpClientOptions = {}): Promise<SftpClient> {
    const client = new SftpClient(await SftpConnection.open(stream, options.name ?? 'sftp', options.signal, options.initSent), options);
    try {
      if (client.has(EXT.LIMITS)) {
        try {
          client.#limits = await client.#negotiateLimits();
        } catch (error) {
          // A server that advertises limits but refuses the request still works with the defaults.
          if (!(error instanceof SftpStatusError)) throw error;
        }
      }
    } catch (error) {
      await client.end();
      throw error;
    }
    return client;
  }

  /** A label for messages ("sftp over ssh://host"). */
  get name(): string {
    return this.#conn.name;
  }

  /** Negotiated protocol version (3). */
  get version(): number {
    return this.#conn.version;
  }

  /** Extensions the server advertised: name → version data. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#conn.extensions;
  }

  get limits(): Readonly<SftpLimits> {
    return this.#limits;
  }

  /** True when the server advertised extension `name`. */
  has(name: string): boolean {
    return this.#conn.has(name);
  }

  /** True once the transport is gone (closed, ended or broken). */
  get closed(): boolean {
    return this.#conn.closed;
  }

  /** Requests sent and not yet answered. */
  get pendingCount(): number {
    return this.#conn.pendingCount;
  }

  /** Resolves once the transport is gone (closed, ended, broken, or `end()`); never rejects. */
  get gone(): Promise<void> {
    return this.#conn.gone;
  }

  /**
   * Ends the stream after failing every pending request; resolves once the stream finished (at
   * most two seconds for a peer that stops reading), then destroys it. Idempotent.
   */
  end(): Promise<void> {
    return this.#conn.end();
  }

  // EXTENDED "limits@openssh.com" → EXTENDED_REPLY uint64 max-packet-length, uint64 max-read-length,
  // uint64 max-write-length, uint64 max-open-handles
  async #negotiateLimits(): Promise<SftpLimits> {
    const r = await this.#conn.extended(EXT.LIMITS, undefined, expectExtendedReply);
    const maxPacket = r.u64();
    const maxRead = r.u64();
    const maxWrite = r.u64();
    const maxOpenHandles = r.u64();
    // 0 means "not stated"; then stay within the packet size, or at the v3 minimum. A huge value
    // would only defeat pipelining under the bytes-in-flight cap, so it is clamped.
    const fallback = maxPacket > 1024 ? maxPacket - 1024 : DEFAULT_IO_SIZE;
    const size = (n: number): number => Math.min(n > 0 ? n : fallback, MAX_IO_SIZE);
    return { maxPacket, maxRead: size(maxRead), maxWrite: size(maxWrite), maxOpenHandles };
  }

  // uint32 id, string filename, uint32 pflags, ATTRS attrs → HANDLE
  /** SSH_FXP_OPEN; resolves with the handle. */
  open(path: string, pflags: number, attrs: SftpAttrs = {}): Promise<Buffer> {
    return this.#conn.request(FXP.OPEN, 'OPEN', w => w.string(path).u32(pflags).attrs(attrs), expectHandle);
  }

  // uint32 id, string handle → STATUS
  /** SSH_FXP_CLOSE of a file or directory handle. */
  close(handle: Buffer): Promise<void> {
    return this.#conn.request(FXP.CLOSE, 'CLOSE', w => w.string(handle), expectStatus);
  }

  // uint32 id, string handle, uint64 offset, uint32 len → DATA string data | STATUS EOF
  /**
   * One SSH_FXP_READ of at most `limits.maxRead` bytes, copied straight into `into` at `at`.
   * Resolves with the bytes received (may be short), 0 at end of file. Counts against the
   * bytes-in-flight budget.
   */
  async read(handle: Buffer, offset: number, length: number, into: Uint8Array, at: number): Promise<number> {
    const wait = this.#budget.acquire(length);
    if (wait !== undefined) await wait;
    try {
      return await this.#conn.request(FXP.READ, 'READ', w => w.string(handle).u64(offset).u32(length), (type, r, request) => {
        if (type === FXP.DATA) {
          const data = r.bytes();
          const n = Math.min(data.length, length);
          into.set(n === data.length ? data : data.subarray(0, n), at);
          return n;
        }
        if (type !== FXP.STATUS) unexpected(type, request);
        const error = readStatus(r, request);
        if (error === undefined) throw new SftpProtocolError('READ answered OK without data');
        if (error.status === STATUS.EOF) return 0;
        throw error;
      }, 32 + handle.length);
    } finally {
      this.#budget.release(length);
    }
  }

  // uint32 id, string handle, uint64 offset, string data → STATUS
  /**
   * One SSH_FXP_WRITE of at most `limits.maxWrite` bytes. The bytes are copied into the packet
   * before this returns its promise, so the caller may reuse `data` at once.
   */
  async write(handle: Buffer, offset: number, data: Uint8Array, dataOffset: number, length: number): Promise<void> {
    const wait = this.#budget.acquire(length);
    if (wait !== undefined) await wait;
    try {
      await this.#conn.request(FXP.WRITE, 'WRITE', w => w.string(handle).u64(offset).string(data, dataOffset, length), expectStatus,
        4 + 1 + 4 + 4 + handle.length + 8 + 4 + length);
    } finally {
      this.#budget.release(length);
    }
  }

  // uint32 id, string path → ATTRS
  /** SSH_FXP_LSTAT. */
  lstat(path: string): Promise<SftpAttrs> {
    return this.#conn.request(FXP.LSTAT, 'LSTAT', w => w.string(path), expectAttrs);
  }

  // uint32 id, string path → ATTRS
  /** SSH_FXP_STAT (follows symlinks). */
  stat(path: string): Promise<SftpAttrs> {
    return this.#conn.request(FXP.STAT, 'STAT', w => w.string(path), expectAttrs);
  }

  // uint32 id, string handle → ATTRS
  /**
   * SSH_FXP_FSTAT, sent after every read and write called before it (those waiting for the
   * bytes-in-flight budget included), so that it sees the writes (see FileHandle.inOrder).
   */
  async fstat(handle: Buffer): Promise<SftpAttrs> {
    const wait = this.#budget.acquire(0);
    if (wait !== undefined) await wait;
    return this.#conn.request(FXP.FSTAT, 'FSTAT', w => w.string(handle), expectAttrs);
  }

  // uint32 id, string path, ATTRS attrs → STATUS
  /** SSH_FXP_SETSTAT (follows symlinks). */
  setstat(path: string, attrs: SftpAttrs): Promise<void> {
    return this.#conn.request(FXP.SETSTAT, 'SETSTAT', w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string handle, ATTRS attrs → STATUS
  /** SSH_FXP_FSETSTAT. */
  fsetstat(handle: Buffer, attrs: SftpAttrs): Promise<void> {
    return this.#conn.request(FXP.FSETSTAT, 'FSETSTAT', w => w.string(handle).attrs(attrs), expectStatus);
  }

  // EXTENDED "lsetstat@openssh.com", string path, ATTRS attrs → STATUS
  /** lsetstat@openssh.com: SETSTAT without following a final symlink. */
  lsetstat(path: string, attrs: SftpAttrs): Promise<void> {
    return this.#conn.extended(EXT.LSETSTAT, w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string path → HANDLE
  /** SSH_FXP_OPENDIR. */
  opendir(path: string): Promise<Buffer> {
    return this.#conn.request(FXP.OPENDIR, 'OPENDIR', w => w.string(path), expectHandle);
  }

  // uint32 id, string handle → NAME uint32 count, (string filename, string longname, ATTRS)* | STATUS EOF
  /** One SSH_FXP_READDIR batch; resolves with null at the end of the directory. */
  readdir(handle: Buffer): Promise<SftpName[] | null> {
    return this.#conn.request(FXP.READDIR, 'READDIR', w => w.string(handle), (type, r, request) => {
      if (type === FXP.NAME) return readNames(r);
      if (type !== FXP.STATUS) unexpected(type, request);
      const error = readStatus(r, request);
      if (error?.status === STATUS.EOF) return null;
      throw error ?? new SftpProtocolError('READDIR answered OK without names');
    });
  }

  // uint32 id, string filename → STATUS
  /** SSH_FXP_REMOVE (unlink). */
  remove(path: string): Promise<void> {
    return this.#conn.request(FXP.REMOVE, 'REMOVE', w => w.string(path), expectStatus);
  }

  // uint32 id, string path, ATTRS attrs → STATUS
  /** SSH_FXP_MKDIR. */
  mkdir(path: string, attrs: SftpAttrs = {}): Promise<void> {
    return this.#conn.request(FXP.MKDIR, 'MKDIR', w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string path → STATUS
  /** SSH_FXP_RMDIR. */
  rmdir(path: string): Promise<void> {
    return this.#conn.request(FXP.RMDIR, 'RMDIR', w => w.string(path), expectStatus);
  }

  // uint32 id, string path → NAME with one entry
  /** SSH_FXP_REALPATH: the canonical absolute path. */
  realpath(path: string): Promise<string> {
    return this.#conn.request(FXP.REALPATH, 'REALPATH', w => w.string(path), expectFirstName);
  }

  // uint32 id, string oldpath, string newpath → STATUS
  /** SSH_FXP_RENAME: v3 semantics, fails when `newPath` exists. */
  rename(oldPath: string, newPath: string): Promise<void> {
    return this.#conn.request(FXP.RENAME, 'RENAME', w => w.string(oldPath).string(newPath), expectStatus);
  }

  // EXTENDED "posix-rename@openssh.com", string oldpath, string newpath → STATUS
  /** posix-rename@openssh.com: rename(2), replacing an existing target. */
  posixRename(oldPath: string, newPath: string): Promise<void> {
    return this.#conn.extended(EXT.POSIX_RENAME, w => w.string(oldPath).string(newPath), expectStatus);
  }

  // uint32 id, string path → NAME with one entry
  /** SSH_FXP_READLINK. */
  readlink(path: string): Promise<string> {
    return this.#conn.request(FXP.READLINK, 'READLINK', w => w.string(path), expectFirstName);
  }

  // uint32 id, string targetpath, string linkpath → STATUS
  // OpenSSH's sftp-server (and every server written against it) takes the two paths in this order,
  // the reverse of the draft's wording; see OpenSSH's PROTOCOL file.
  /** SSH_FXP_SYMLINK: creates `linkPath` pointing at `target`. */
  symlink(target: string, linkPath: string): Promise<void> {
    return this.#conn.request(FXP.SYMLINK, 'SYMLINK', w => w.string(target).string(linkPath), expectStatus);
  }

  // EXTENDED "hardlink@openssh.com", string oldpath, string newpath → STATUS
  /** hardlink@openssh.com: link(2). */
  hardlink(existing: string, newPath: string): Promise<void> {
    return this.#conn.extended(EXT.HARDLINK, w => w.string(existing).string(newPath), expectStatus);
  }

  // EXTENDED "fsync@openssh.com", string handle → STATUS
  /** fsync@openssh.com. */
  fsync(handle: Buffer): Promise<void> {
    return this.#conn.extended(EXT.FSYNC, w => w.string(handle), expectStatus);
  }

  // EXTENDED "statvfs@openssh.com", string path → EXTENDED_REPLY uint64 f_bsize, f_frsize, f_blocks,
  // f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax
  /** statvfs@openssh.com. */
  statvfs(path: string): Promise<SftpStatvfs> {
    return this.#conn.extended(EXT.STATVFS, w => w.string(path), expect(FXP.EXTENDED_REPLY, readStatvfs));
  }

  // EXTENDED "fstatvfs@openssh.com", string handle → EXTENDED_REPLY as statvfs
  /** fstatvfs@openssh.com. */
  fstatvfs(handle: Buffer): Promise<SftpStatvfs> {
    return this.#conn.extended(EXT.FSTATVFS, w => w.string(handle), expect(FXP.EXTENDED_REPLY, readStatvfs));
  }

  // EXTENDED "expand-path@openssh.com", string path → NAME with one entry
  /** expand-path@openssh.com: realpath that also expands a leading `~` or `~user`. */
  expandPath(path: string): Promise<string> {
    return this.#conn.extended(EXT.EXPAND_PATH, w => w.string(path), expectFirstName);
  }

  // EXTENDED "copy-data", string read-from-handle, uint64 read-from-offset, uint64 read-data-length,
  // string write-to-handle, uint64 write-to-offset → STATUS
  /** copy-data: server-side copy of `length` bytes (0 = to end of file) between open handles. */
  copyData(from: Buffer, fromOffset: number, length: number, to: Buffer, toOffset: number): Promise<void> {
    return this.#conn.extended(EXT.COPY_DATA, w => w.string(from).u64(fromOffset).u64(length).string(to).u64(toOffset), expectStatus);
  }

  /**
   * Every name of an open directory handle, with `window` READDIRs kept in flight. Batches are
   * taken in request order (a server answers a handle's READDIRs in order, each with the next
   * batch of up to ~100 names), so a folder of `window` batches costs one round trip. Returns at
   * the first EOF without waiting for the requests sent past it: they can only answer EOF, a
   * CLOSE sent next goes out behind them, and their answers are consumed, never left unhandled.
   */
  async readdirAll(handle: Buffer, window = 8): Promise<SftpName[]> {
    type Settled = { names: SftpName[] | null; error?: undefined } | { names?: undefined; error: unknown };
    const batches: Array<Promise<Settled>> = [];
    const send = (): void => {
      batches.push(this.readdir(handle).then(names => ({ names }), (error: unknown) => ({ error })));
    };
    for (let i = 0; i < window; i++) send();
    const out: SftpName[] = [];
    for (let next = 0; ; next++) {
      const batch = await batches[next]!;
      if (batch.error !== undefined) throw batch.error;
      if (batch.names === null) return out;
      for (const name of batch.names!) out.push(name);
      send();
    }
  }
}
