/**
 * The SFTP v3 protocol client over any duplex stream: handshake, request ids, pipelining, the reader
 * loop, backpressure and the cap on read/write bytes in flight. It speaks in SFTP terms (handles are
 * byte strings, attributes are ATTRS, failures are `SftpStatusError`/`SftpConnectionError`);
 * `SftpFileClient` turns that into the FileClient contract.
 */

import type { Duplex } from 'node:stream';
import {
  DEFAULT_IO_SIZE,
  DEFAULT_MAX_BYTES_IN_FLIGHT,
  EVENT_ID,
  EXT,
  FXP,
  RMOUNT_EXT,
  RMOUNT_SET,
  SFTP_VERSION,
  STATUS,
  packetTypeName,
} from './constants.ts';
import { PacketFramer, PacketReader, PacketWriter, SftpProtocolError, type SftpAttrs } from './packet.ts';
import { SftpConnectionError, SftpStatusError } from './status.ts';

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

/** One entry of an SSH_FXP_NAME reply. */
export interface SftpName {
  filename: string;
  longname: string;
  attrs: SftpAttrs;
}

/** The reply of statvfs@openssh.com / fstatvfs@openssh.com. */
export interface SftpStatvfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** One entry of a tree@rmount or readdir@rmount reply. */
export interface SftpTreeEntry {
  /** A name (readdir@rmount) or a path relative to the requested folder (tree@rmount). */
  path: string;
  attrs: SftpAttrs;
}

/** One file of a readfiles@rmount reply: its errno name on failure, else attributes and bytes. */
export interface SftpSmallFile {
  error?: string;
  attrs?: SftpAttrs;
  data?: Buffer;
}

/** The fields of setstat@rmount; absent fields are left as they are. */
export interface SftpSetstatNs {
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: { sec: number; nsec: number } | 'now';
  mtime?: { sec: number; nsec: number } | 'now';
}

/** Options of `SftpClient.connect`. */
export interface SftpClientOptions {
  /** Cap on read and write payload bytes awaiting a reply (default 8 MiB). */
  maxBytesInFlight?: number;
  /** A label for messages ("sftp over ssh://host"). */
  name?: string;
  /** Aborts the handshake. */
  signal?: AbortSignal;
}

/** Upper bound on the negotiated read/write size. */
const MAX_IO_SIZE = 4 * 1024 * 1024;
/** Packets below this size are gathered per turn; larger ones are written at once. */
const SMALL_PACKET = 4096;
/** A gathered write is flushed early once it reaches this size. */
const MAX_BATCH = 64 * 1024;

type Decode<T> = (type: number, r: PacketReader, request: string) => T;

interface Pending {
  request: string;
  decode: Decode<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** FIFO budget of bytes in flight; a request larger than the whole budget waits for an empty pipe. */
class ByteBudget {
  #used = 0;
  readonly #waiters: Array<{ n: number; resolve(): void }> = [];

  constructor(readonly max: number) {}

  /** Resolves once `n` bytes are reserved; returns undefined when they were reserved at once. */
  acquire(n: number): Promise<void> | undefined {
    const need = Math.min(n, this.max);
    if (this.#waiters.length === 0 && this.#used + need <= this.max) {
      this.#used += need;
      return undefined;
    }
    return new Promise(resolve => this.#waiters.push({ n: need, resolve }));
  }

  release(n: number): void {
    this.#used -= Math.min(n, this.max);
    while (this.#waiters.length > 0 && this.#used + this.#waiters[0]!.n <= this.max) {
      const w = this.#waiters.shift()!;
      this.#used += w.n;
      w.resolve();
    }
  }
}

function unexpected(type: number, request: string): never {
  throw new SftpProtocolError(`${request}: unexpected reply ${packetTypeName(type)}`);
}

function readStatus(r: PacketReader, request: string): SftpStatusError | undefined {
  const code = r.u32();
  if (code === STATUS.OK) return undefined;
  // Some old servers omit message and language tag.
  const message = r.remaining >= 4 ? r.string() : '';
  return new SftpStatusError(code, message, request);
}

const expectStatus: Decode<void> = (type, r, request) => {
  if (type !== FXP.STATUS) unexpected(type, request);
  const error = readStatus(r, request);
  if (error !== undefined) throw error;
};

function expect<T>(want: number, body: (r: PacketReader) => T): Decode<T> {
  return (type, r, request) => {
    if (type === want) return body(r);
    if (type === FXP.STATUS) throw readStatus(r, request) ?? new SftpProtocolError(`${request}: OK status without data`);
    return unexpected(type, request);
  };
}

// Handles are copied out of the packet so that they do not pin the stream's receive chunk.
const expectHandle = expect(FXP.HANDLE, r => Buffer.from(r.bytes()));
const expectAttrs = expect(FXP.ATTRS, r => r.attrs());
const expectExtendedReply = expect(FXP.EXTENDED_REPLY, r => r);
const expectFirstName = expect(FXP.NAME, r => {
  const names = readNames(r);
  if (names.length === 0) throw new SftpProtocolError('empty NAME reply');
  return names[0]!.filename;
});

function readNames(r: PacketReader): SftpName[] {
  const count = r.u32();
  const names: SftpName[] = new Array(count);
  for (let i = 0; i < count; i++) names[i] = { filename: r.string(), longname: r.string(), attrs: r.attrs() };
  return names;
}

function readStatvfs(r: PacketReader): SftpStatvfs {
  return {
    bsize: r.u64(),
    frsize: r.u64(),
    blocks: r.u64(),
    bfree: r.u64(),
    bavail: r.u64(),
    files: r.u64(),
    ffree: r.u64(),
    favail: r.u64(),
    fsid: r.u64(),
    flag: r.u64(),
    namemax: r.u64(),
  };
}

/**
 * A promise-native SFTP v3 client. Requests are pipelined: each gets an id, goes out at once (or
 * when the stream drains) and is settled by the reader loop whatever order the replies come in.
 * When the stream errors, ends or is closed, every pending and later request rejects with
 * `SftpConnectionError`.
 */
export class SftpClient {
  readonly name: string;
  #stream: Duplex;
  #framer = new PacketFramer();
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #budget: ByteBudget;
  /** Packets waiting for 'drain' (the stream's buffer is full). */
  #queue: Buffer[] = [];
  #draining = false;
  /** Small packets of the current turn, written together by `#flushBatch`. */
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #flushScheduled = false;
  #failure: SftpConnectionError | undefined;
  /** The stream ended, closed or errored on its own: nothing to wait for in `end()`. */
  #peerGone = false;
  /** Set while the handshake waits for VERSION. */
  #onVersion: ((r: PacketReader) => void) | undefined;
  #onHandshakeFailure: ((error: unknown) => void) | undefined;
  #version = 0;
  #extensions = new Map<string, string>();
  /** Receives unsolicited EXTENDED_REPLY packets (request id EVENT_ID), positioned after the id. */
  #onEvent: ((r: PacketReader) => void) | undefined;
  #limits: SftpLimits = { maxPacket: 0, maxRead: DEFAULT_IO_SIZE, maxWrite: DEFAULT_IO_SIZE, maxOpenHandles: 0 };

  private constructor(stream: Duplex, options: SftpClientOptions) {
    this.#stream = stream;
    this.name = options.name ?? 'sftp';
    this.#budget = new ByteBudget(Math.max(options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT, 1));
    stream.on('data', this.#onData);
    stream.on('error', this.#onError);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
  }

  /**
   * Runs the INIT/VERSION handshake on `stream` and negotiates limits@openssh.com when offered.
   * The stream belongs to the caller until this resolves, then to the client (`end()` ends it).
   * @throws SftpConnectionError when the stream closes or the server speaks no SFTP v3.
   */
  static async connect(stream: Duplex, options: SftpClientOptions = {}): Promise<SftpClient> {
    const client = new SftpClient(stream, options);
    try {
      await client.#handshake(options.signal);
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

  /** Negotiated protocol version (3). */
  get version(): number {
    return this.#version;
  }

  /** Extensions the server advertised: name → version data. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
  }

  get limits(): Readonly<SftpLimits> {
    return this.#limits;
  }

  /** True when the server advertised extension `name`. */
  has(name: string): boolean {
    return this.#extensions.has(name);
  }

  /** True once the transport is gone (closed, ended or broken). */
  get closed(): boolean {
    return this.#failure !== undefined;
  }

  /** Requests sent and not yet answered. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  // uint32 length, byte SSH_FXP_INIT, uint32 version
  #handshake(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new SftpConnectionError(`${this.name}: handshake aborted`, { cause: signal!.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (error?: unknown): void => {
        signal?.removeEventListener('abort', onAbort);
        this.#onVersion = undefined;
        this.#onHandshakeFailure = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      this.#onHandshakeFailure = done;
      // byte SSH_FXP_VERSION, uint32 version, (string name, string data)*
      this.#onVersion = r => {
        try {
          this.#version = r.u32();
          if (this.#version !== SFTP_VERSION) throw new SftpProtocolError(`server speaks SFTP version ${this.#version}, not 3`);
          while (r.remaining > 0) this.#extensions.set(r.string(), r.string());
          done();
        } catch (error) {
          this.#fail(error); // rejects through #onHandshakeFailure
        }
      };
      this.#send(new PacketWriter(FXP.INIT, 9).u32(SFTP_VERSION).finish());
    });
  }

  // EXTENDED "limits@openssh.com" → EXTENDED_REPLY uint64 max-packet-length, uint64 max-read-length,
  // uint64 max-write-length, uint64 max-open-handles
  async #negotiateLimits(): Promise<SftpLimits> {
    const r = await this.#extended(EXT.LIMITS, undefined, expectExtendedReply);
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

  /**
   * Sends one request and resolves with `decode` of its reply. `encode` appends the fields after
   * the id; `sizeHint` sizes the packet buffer once.
   */
  #request<T>(type: number, request: string, encode: (w: PacketWriter) => void, decode: Decode<T>, sizeHint = 256): Promise<T> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#allocateId();
    const w = new PacketWriter(type, sizeHint).u32(id);
    encode(w);
    const packet = w.finish();
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { request, decode, resolve: resolve as (v: unknown) => void, reject });
      this.#send(packet);
    });
  }

  // uint32 id, string extended-request, ... request-specific data
  #extended<T>(ext: string, encode: ((w: PacketWriter) => void) | undefined, decode: Decode<T>, sizeHint = 256): Promise<T> {
    return this.#request(FXP.EXTENDED, ext, w => {
      w.string(ext);
      encode?.(w);
    }, decode, sizeHint);
  }

  #allocateId(): number {
    do this.#nextId = (this.#nextId + 1) >>> 0;
    while (this.#pending.has(this.#nextId) || this.#nextId === EVENT_ID);
    return this.#nextId;
  }

  /**
   * Queues a packet. Small packets issued in the same turn (a burst of lstats, the pieces of a
   * large read) go out as one write: one syscall, one SSH channel packet. Large ones go at once.
   */
  #send(packet: Buffer): void {
    if (packet.length >= SMALL_PACKET) {
      this.#flushBatch();
      this.#write(packet);
      return;
    }
    this.#batch.push(packet);
    this.#batchBytes += packet.length;
    if (this.#batchBytes >= MAX_BATCH) this.#flushBatch();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushBatch);
    }
  }

  #flushBatch = (): void => {
    this.#flushScheduled = false;
    if (this.#batch.length === 0) return;
    const out = this.#batch.length === 1 ? this.#batch[0]! : Buffer.concat(this.#batch, this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#write(out);
  };

  #write(bytes: Buffer): void {
    if (this.#failure !== undefined) return;
    if (this.#draining) {
      this.#queue.push(bytes);
      return;
    }
    if (!this.#stream.write(bytes)) {
      this.#draining = true;
      this.#stream.once('drain', this.#onDrain);
    }
  }

  #onDrain = (): void => {
    this.#draining = false;
    while (this.#queue.length > 0 && this.#failure === undefined) {
      if (!this.#stream.write(this.#queue.shift()!)) {
        this.#draining = true;
        this.#stream.once('drain', this.#onDrain);
        return;
      }
    }
  };

  #onData = (chunk: Buffer): void => {
    if (this.#failure !== undefined) return;
    try {
      this.#framer.push(chunk, this.#onPacket);
    } catch (error) {
      if (this.#onVersion !== undefined && error instanceof SftpProtocolError) {
        // The classic cause: a shell startup file on the remote printing to stdout.
        const text = JSON.stringify(chunk.subarray(0, 60).toString('latin1'));
        error = new SftpProtocolError(`expected the SFTP VERSION packet, got ${text} (does a shell startup file print text?)`, { cause: error });
      }
      this.#fail(error);
      this.#stream.destroy();
    }
  };

  #onPacket = (packet: Buffer): void => {
    const type = packet[0]!;
    const r = new PacketReader(packet, 1);
    if (type === FXP.VERSION) {
      if (this.#onVersion === undefined) throw new SftpProtocolError('unexpected VERSION');
      this.#onVersion(r);
      return;
    }
    const id = r.u32();
    if (id === EVENT_ID && type === FXP.EXTENDED_REPLY) {
      this.#onEvent?.(r);
      return;
    }
    const pending = this.#pending.get(id);
    if (pending === undefined) throw new SftpProtocolError(`reply ${packetTypeName(type)} for unknown request id ${id}`);
    this.#pending.delete(id);
    let value: unknown;
    try {
      value = pending.decode(type, r, pending.request);
    } catch (error) {
      pending.reject(error);
      return;
    }
    pending.resolve(value);
  };

  #onError = (error: Error): void => {
    this.#peerGone = true;
    this.#fail(error);
  };

  #onEnd = (): void => {
    this.#peerGone = true;
    this.#fail(undefined);
  };

  /** Marks the transport dead and rejects every pending request at once. */
  #fail(cause: unknown): void {
    if (this.#failure !== undefined) return;
    const reason = cause === undefined ? 'the stream closed' : cause instanceof Error ? cause.message : String(cause);
    this.#failure = new SftpConnectionError(`${this.name}: connection lost: ${reason}`, { cause });
    this.#queue.length = 0;
    this.#batch = [];
    this.#batchBytes = 0;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(this.#failure);
    this.#onHandshakeFailure?.(this.#failure);
  }

  /**
   * Ends the stream after failing every pending request; resolves once the stream finished (at
   * most two seconds for a peer that stops reading), then destroys it. Idempotent.
   */
  async end(): Promise<void> {
    this.#fail(new Error('client closed'));
    const stream = this.#stream;
    stream.off('data', this.#onData);
    // Late 'error' events of a dying stream must not become uncaught exceptions.
    stream.on('error', () => undefined);
    if (stream.destroyed) return;
    if (!this.#peerGone && !stream.writableFinished) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, 2000);
        function done(): void {
          clearTimeout(timer);
          stream.off('finish', done);
          stream.off('close', done);
          stream.off('error', done);
          resolve();
        }
        stream.once('finish', done);
        stream.once('close', done);
        stream.once('error', done);
        if (!stream.writableEnded) stream.end();
      });
    }
    stream.destroy();
  }

  // uint32 id, string filename, uint32 pflags, ATTRS attrs → HANDLE
  /** SSH_FXP_OPEN; resolves with the handle. */
  open(path: string, pflags: number, attrs: SftpAttrs = {}): Promise<Buffer> {
    return this.#request(FXP.OPEN, 'OPEN', w => w.string(path).u32(pflags).attrs(attrs), expectHandle);
  }

  // uint32 id, string handle → STATUS
  /** SSH_FXP_CLOSE of a file or directory handle. */
  close(handle: Buffer): Promise<void> {
    return this.#request(FXP.CLOSE, 'CLOSE', w => w.string(handle), expectStatus);
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
      return await this.#request(FXP.READ, 'READ', w => w.string(handle).u64(offset).u32(length), (type, r, request) => {
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
      await this.#request(FXP.WRITE, 'WRITE', w => w.string(handle).u64(offset).string(data, dataOffset, length), expectStatus,
        4 + 1 + 4 + 4 + handle.length + 8 + 4 + length);
    } finally {
      this.#budget.release(length);
    }
  }

  // uint32 id, string path → ATTRS
  /** SSH_FXP_LSTAT. */
  lstat(path: string): Promise<SftpAttrs> {
    return this.#request(FXP.LSTAT, 'LSTAT', w => w.string(path), expectAttrs);
  }

  // uint32 id, string path → ATTRS
  /** SSH_FXP_STAT (follows symlinks). */
  stat(path: string): Promise<SftpAttrs> {
    return this.#request(FXP.STAT, 'STAT', w => w.string(path), expectAttrs);
  }

  // uint32 id, string handle → ATTRS
  /** SSH_FXP_FSTAT. */
  fstat(handle: Buffer): Promise<SftpAttrs> {
    return this.#request(FXP.FSTAT, 'FSTAT', w => w.string(handle), expectAttrs);
  }

  // uint32 id, string path, ATTRS attrs → STATUS
  /** SSH_FXP_SETSTAT (follows symlinks). */
  setstat(path: string, attrs: SftpAttrs): Promise<void> {
    return this.#request(FXP.SETSTAT, 'SETSTAT', w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string handle, ATTRS attrs → STATUS
  /** SSH_FXP_FSETSTAT. */
  fsetstat(handle: Buffer, attrs: SftpAttrs): Promise<void> {
    return this.#request(FXP.FSETSTAT, 'FSETSTAT', w => w.string(handle).attrs(attrs), expectStatus);
  }

  // EXTENDED "lsetstat@openssh.com", string path, ATTRS attrs → STATUS
  /** lsetstat@openssh.com: SETSTAT without following a final symlink. */
  lsetstat(path: string, attrs: SftpAttrs): Promise<void> {
    return this.#extended(EXT.LSETSTAT, w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string path → HANDLE
  /** SSH_FXP_OPENDIR. */
  opendir(path: string): Promise<Buffer> {
    return this.#request(FXP.OPENDIR, 'OPENDIR', w => w.string(path), expectHandle);
  }

  // uint32 id, string handle → NAME uint32 count, (string filename, string longname, ATTRS)* | STATUS EOF
  /** One SSH_FXP_READDIR batch; resolves with null at the end of the directory. */
  readdir(handle: Buffer): Promise<SftpName[] | null> {
    return this.#request(FXP.READDIR, 'READDIR', w => w.string(handle), (type, r, request) => {
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
    return this.#request(FXP.REMOVE, 'REMOVE', w => w.string(path), expectStatus);
  }

  // uint32 id, string path, ATTRS attrs → STATUS
  /** SSH_FXP_MKDIR. */
  mkdir(path: string, attrs: SftpAttrs = {}): Promise<void> {
    return this.#request(FXP.MKDIR, 'MKDIR', w => w.string(path).attrs(attrs), expectStatus);
  }

  // uint32 id, string path → STATUS
  /** SSH_FXP_RMDIR. */
  rmdir(path: string): Promise<void> {
    return this.#request(FXP.RMDIR, 'RMDIR', w => w.string(path), expectStatus);
  }

  // uint32 id, string path → NAME with one entry
  /** SSH_FXP_REALPATH: the canonical absolute path. */
  realpath(path: string): Promise<string> {
    return this.#request(FXP.REALPATH, 'REALPATH', w => w.string(path), expectFirstName);
  }

  // uint32 id, string oldpath, string newpath → STATUS
  /** SSH_FXP_RENAME: v3 semantics, fails when `newPath` exists. */
  rename(oldPath: string, newPath: string): Promise<void> {
    return this.#request(FXP.RENAME, 'RENAME', w => w.string(oldPath).string(newPath), expectStatus);
  }

  // EXTENDED "posix-rename@openssh.com", string oldpath, string newpath → STATUS
  /** posix-rename@openssh.com: rename(2), replacing an existing target. */
  posixRename(oldPath: string, newPath: string): Promise<void> {
    return this.#extended(EXT.POSIX_RENAME, w => w.string(oldPath).string(newPath), expectStatus);
  }

  // uint32 id, string path → NAME with one entry
  /** SSH_FXP_READLINK. */
  readlink(path: string): Promise<string> {
    return this.#request(FXP.READLINK, 'READLINK', w => w.string(path), expectFirstName);
  }

  // uint32 id, string targetpath, string linkpath → STATUS
  // OpenSSH's sftp-server (and every server written against it) takes the two paths in this order,
  // the reverse of the draft's wording; see OpenSSH's PROTOCOL file.
  /** SSH_FXP_SYMLINK: creates `linkPath` pointing at `target`. */
  symlink(target: string, linkPath: string): Promise<void> {
    return this.#request(FXP.SYMLINK, 'SYMLINK', w => w.string(target).string(linkPath), expectStatus);
  }

  // EXTENDED "hardlink@openssh.com", string oldpath, string newpath → STATUS
  /** hardlink@openssh.com: link(2). */
  hardlink(existing: string, newPath: string): Promise<void> {
    return this.#extended(EXT.HARDLINK, w => w.string(existing).string(newPath), expectStatus);
  }

  // EXTENDED "fsync@openssh.com", string handle → STATUS
  /** fsync@openssh.com. */
  fsync(handle: Buffer): Promise<void> {
    return this.#extended(EXT.FSYNC, w => w.string(handle), expectStatus);
  }

  // EXTENDED "statvfs@openssh.com", string path → EXTENDED_REPLY uint64 f_bsize, f_frsize, f_blocks,
  // f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax
  /** statvfs@openssh.com. */
  statvfs(path: string): Promise<SftpStatvfs> {
    return this.#extended(EXT.STATVFS, w => w.string(path), expect(FXP.EXTENDED_REPLY, readStatvfs));
  }

  // EXTENDED "fstatvfs@openssh.com", string handle → EXTENDED_REPLY as statvfs
  /** fstatvfs@openssh.com. */
  fstatvfs(handle: Buffer): Promise<SftpStatvfs> {
    return this.#extended(EXT.FSTATVFS, w => w.string(handle), expect(FXP.EXTENDED_REPLY, readStatvfs));
  }

  // EXTENDED "expand-path@openssh.com", string path → NAME with one entry
  /** expand-path@openssh.com: realpath that also expands a leading `~` or `~user`. */
  expandPath(path: string): Promise<string> {
    return this.#extended(EXT.EXPAND_PATH, w => w.string(path), expectFirstName);
  }

  // EXTENDED "copy-data", string read-from-handle, uint64 read-from-offset, uint64 read-data-length,
  // string write-to-handle, uint64 write-to-offset → STATUS
  /** copy-data: server-side copy of `length` bytes (0 = to end of file) between open handles. */
  copyData(from: Buffer, fromOffset: number, length: number, to: Buffer, toOffset: number): Promise<void> {
    return this.#extended(EXT.COPY_DATA, w => w.string(from).u64(fromOffset).u64(length).string(to).u64(toOffset), expectStatus);
  }

  /**
   * Sets the receiver of unsolicited packets (watch@rmount events). It gets a reader positioned
   * after the request id and must not throw.
   */
  setEventListener(listener: ((r: PacketReader) => void) | undefined): void {
    this.#onEvent = listener;
  }

  // EXTENDED "setstat@rmount", uint32 flags, string path-or-handle, uint32 valid, uint64 size,
  // uint32 mode, uint32 uid, uint32 gid, int64 atime-sec, uint32 atime-nsec, int64 mtime-sec,
  // uint32 mtime-nsec → STATUS
  /** setstat@rmount: every field optional, times with nanoseconds or 'now'. */
  setstatNs(target: string | Buffer, flags: number, a: SftpSetstatNs): Promise<void> {
    let valid = 0;
    if (a.size !== undefined) valid |= RMOUNT_SET.SIZE;
    if (a.mode !== undefined) valid |= RMOUNT_SET.MODE;
    if (a.uid !== undefined) valid |= RMOUNT_SET.UID;
    if (a.gid !== undefined) valid |= RMOUNT_SET.GID;
    if (a.atime !== undefined) valid |= a.atime === 'now' ? RMOUNT_SET.ATIME_NOW : RMOUNT_SET.ATIME;
    if (a.mtime !== undefined) valid |= a.mtime === 'now' ? RMOUNT_SET.MTIME_NOW : RMOUNT_SET.MTIME;
    const at = a.atime === undefined || a.atime === 'now' ? { sec: 0, nsec: 0 } : a.atime;
    const mt = a.mtime === undefined || a.mtime === 'now' ? { sec: 0, nsec: 0 } : a.mtime;
    return this.#extended(RMOUNT_EXT.SETSTAT, w => w.u32(flags).string(target).u32(valid).u64(a.size ?? 0)
      .u32(a.mode ?? 0).u32(a.uid ?? 0).u32(a.gid ?? 0).i64(at.sec).u32(at.nsec).i64(mt.sec).u32(mt.nsec), expectStatus);
  }

  // EXTENDED "readdir@rmount", string path → EXTENDED_REPLY uint32 count, (string name, ATTRS)*
  /** readdir@rmount: every entry of a folder (lstat attributes) in one round trip. */
  readdirAt(path: string): Promise<SftpTreeEntry[]> {
    return this.#extended(RMOUNT_EXT.READDIR, w => w.string(path), expect(FXP.EXTENDED_REPLY, r => {
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
    return this.#extended(RMOUNT_EXT.TREE, w => w.string(path).u32(maxDepth).u32(maxEntries), expect(FXP.EXTENDED_REPLY, r => {
      const truncated = (r.u32() & 1) !== 0;
      const n = r.u32();
      const entries: SftpTreeEntry[] = new Array(n);
      for (let i = 0; i < n; i++) entries[i] = { path: r.string(), attrs: r.attrs() };
      return { truncated, entries };
    }));
  }

  // EXTENDED "readfiles@rmount", uint32 max-bytes-per-file, uint32 count, string path* →
  // EXTENDED_REPLY uint32 count, (string errno-or-empty, ATTRS, string data)*
  /** readfiles@rmount: the first `maxBytes` of each file, in one round trip. */
  readFiles(paths: readonly string[], maxBytes: number): Promise<SftpSmallFile[]> {
    return this.#extended(RMOUNT_EXT.READFILES, w => {
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
    return this.#extended(RMOUNT_EXT.WATCH, w => w.string(path), expect(FXP.EXTENDED_REPLY, r => r.u32()));
  }

  // EXTENDED "unwatch@rmount", uint32 watch-id → STATUS
  /** unwatch@rmount. */
  unwatch(id: number): Promise<void> {
    return this.#extended(RMOUNT_EXT.UNWATCH, w => w.u32(id), expectStatus);
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
