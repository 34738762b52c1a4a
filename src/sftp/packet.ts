/**
 * The byte layer of SFTP v3: a growable encoder for outgoing packets, a bounds-checked decoder for
 * incoming ones, the ATTRS structure both ways, and a framer that cuts a byte stream into packets.
 *
 * Every packet on the wire is `uint32 length, byte type, byte[length - 1] payload`; integers are
 * big-endian; a `string` is `uint32 length, byte[length]`.
 */

import { ATTR, MAX_INCOMING_PACKET } from './constants.ts';

const TWO_32 = 0x1_0000_0000;

/** An ATTRS structure. Absent fields were not sent (their flag bit was clear). */
export interface SftpAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  /** st_mode, type bits included. */
  permissions?: number;
  /** Seconds since the epoch. */
  atime?: number;
  mtime?: number;
  /** Extended attribute pairs (type → data), as some servers send them. */
  extended?: Array<[string, Buffer]>;
}

/** The stream broke the protocol (short packet, absurd length, unexpected reply). */
export class SftpProtocolError extends Error {
  override readonly name = 'SftpProtocolError';
}

/**
 * Builds one outgoing packet in a single buffer: the length prefix is reserved at construction and
 * filled by `finish()`. Size the first allocation well (e.g. for WRITE) and it never grows.
 */
export class PacketWriter {
  #buf: Buffer;
  #pos = 4;

  /** Starts a packet of `type`; `sizeHint` is the expected total size including the prefix. */
  constructor(type: number, sizeHint = 256) {
    this.#buf = Buffer.allocUnsafe(Math.max(sizeHint, 16));
    this.#buf[this.#pos++] = type;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** A byte. */
  u8(value: number): this {
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
    return this;
  }

  /** A big-endian uint32. */
  u32(value: number): this {
    this.#ensure(4);
    this.#buf.writeUInt32BE(value >>> 0, this.#pos);
    this.#pos += 4;
    return this;
  }

  /** A uint64 from a non-negative safe integer (offsets and sizes stay below 2^53). */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a uint64: ${value}`);
    this.#ensure(8);
    this.#buf.writeUInt32BE(Math.floor(value / TWO_32), this.#pos);
    this.#buf.writeUInt32BE(value % TWO_32, this.#pos + 4);
    this.#pos += 8;
    return this;
  }

  /** A big-endian int64 from a safe integer (rmount-agent's signed times). */
  i64(value: number): this {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not an int64: ${value}`);
    this.#ensure(8);
    this.#buf.writeBigInt64BE(BigInt(value), this.#pos);
    this.#pos += 8;
    return this;
  }

  /** A `string`: UTF-8 text or raw bytes (handles, data). */
  string(value: string | Uint8Array, offset = 0, length?: number): this {
    if (typeof value === 'string') {
      const n = Buffer.byteLength(value);
      this.#ensure(4 + n);
      this.#buf.writeUInt32BE(n, this.#pos);
      this.#buf.write(value, this.#pos + 4, n, 'utf8');
      this.#pos += 4 + n;
      return this;
    }
    const n = length ?? value.length - offset;
    this.#ensure(4 + n);
    this.#buf.writeUInt32BE(n, this.#pos);
    this.#buf.set(value.subarray(offset, offset + n), this.#pos + 4);
    this.#pos += 4 + n;
    return this;
  }

  // uint32 flags
  // [uint64 size]                     if flags & SIZE
  // [uint32 uid, uint32 gid]          if flags & UIDGID
  // [uint32 permissions]              if flags & PERMISSIONS
  // [uint32 atime, uint32 mtime]      if flags & ACMODTIME
  // [uint32 count, (string type, string data) * count]  if flags & EXTENDED
  /** An ATTRS structure. uid/gid and atime/mtime travel in pairs: give both or neither. */
  attrs(a: SftpAttrs): this {
    let flags = 0;
    if (a.size !== undefined) flags |= ATTR.SIZE;
    if (a.uid !== undefined || a.gid !== undefined) flags |= ATTR.UIDGID;
    if (a.permissions !== undefined) flags |= ATTR.PERMISSIONS;
    if (a.atime !== undefined || a.mtime !== undefined) flags |= ATTR.ACMODTIME;
    if (a.extended !== undefined && a.extended.length > 0) flags |= ATTR.EXTENDED;
    this.u32(flags);
    if (a.size !== undefined) this.u64(a.size);
    if (flags & ATTR.UIDGID) {
      if (a.uid === undefined || a.gid === undefined) throw new RangeError('uid and gid go together');
      this.u32(a.uid).u32(a.gid);
    }
    if (a.permissions !== undefined) this.u32(a.permissions);
    if (flags & ATTR.ACMODTIME) {
      if (a.atime === undefined || a.mtime === undefined) throw new RangeError('atime and mtime go together');
      this.u32(a.atime).u32(a.mtime);
    }
    if (flags & ATTR.EXTENDED) {
      this.u32(a.extended!.length);
      for (const [type, data] of a.extended!) this.string(type).string(data);
    }
    return this;
  }

  /** Fills in the length prefix and returns the packet (a view of the writer's buffer). */
  finish(): Buffer {
    this.#buf.writeUInt32BE(this.#pos - 4, 0);
    return this.#buf.subarray(0, this.#pos);
  }
}

/** Reads fields from one packet's payload; every read is bounds-checked. */
export class PacketReader {
  #pos: number;

  constructor(readonly buf: Buffer, pos = 0) {
    this.#pos = pos;
  }

  /** Bytes left after the read position. */
  get remaining(): number {
    return this.buf.length - this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.buf.length) {
      throw new SftpProtocolError(`packet too short: wanted ${n} bytes at ${this.#pos} of ${this.buf.length}`);
    }
  }

  /** A byte. */
  u8(): number {
    this.#need(1);
    return this.buf[this.#pos++]!;
  }

  /** A big-endian uint32. */
  u32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** A uint64; values above 2^53 lose precision (only statvfs fields can be that large). */
  u64(): number {
    this.#need(8);
    const v = this.buf.readUInt32BE(this.#pos) * TWO_32 + this.buf.readUInt32BE(this.#pos + 4);
    this.#pos += 8;
    return v;
  }

  /** A big-endian int64 (rmount-agent's signed times); beyond 2^53 it loses precision. */
  i64(): number {
    this.#need(8);
    const v = Number(this.buf.readBigInt64BE(this.#pos));
    this.#pos += 8;
    return v;
  }

  /** A `string` as bytes: a view into the packet, valid while the packet is. */
  bytes(): Buffer {
    const n = this.u32();
    this.#need(n);
    const v = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** A `string` decoded as UTF-8. */
  string(): string {
    const n = this.u32();
    this.#need(n);
    const v = this.buf.toString('utf8', this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** Steps over a `string` without decoding it. */
  skipString(): void {
    const n = this.u32();
    this.#need(n);
    this.#pos += n;
  }

  /** An ATTRS structure (layout above `PacketWriter.attrs`). */
  attrs(): SftpAttrs {
    const flags = this.u32();
    const a: SftpAttrs = {};
    if (flags & ATTR.SIZE) a.size = this.u64();
    if (flags & ATTR.UIDGID) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) a.permissions = this.u32();
    if (flags & ATTR.ACMODTIME) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      const count = this.u32();
      a.extended = [];
      for (let i = 0; i < count; i++) a.extended.push([this.string(), Buffer.from(this.bytes())]);
    }
    return a;
  }
}

/**
 * Cuts a byte stream into packets. Chunks are kept as they arrive; a packet that lies inside one
 * chunk is handed out as a view without copying, and only a packet spanning chunks is copied once.
 */
export class PacketFramer {
  #chunks: Buffer[] = [];
  /** Read position in `#chunks[0]`. */
  #head = 0;
  /** Unconsumed bytes over all chunks. */
  #length = 0;

  constructor(readonly maxPacket = MAX_INCOMING_PACKET) {}

  /** Bytes received but not yet part of a whole packet. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * Adds a chunk and calls `onPacket` with each whole packet's `type + payload` (without the length
   * prefix). The buffer handed out may be a view into `chunk`; use it before returning.
   * @throws SftpProtocolError on a length above `maxPacket` or of zero.
   */
  push(chunk: Buffer, onPacket: (packet: Buffer) => void): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    while (this.#length >= 4) {
      const len = this.#peekLength();
      if (len === 0 || len > this.maxPacket) throw new SftpProtocolError(`bad packet length ${len}`);
      if (this.#length < 4 + len) return;
      this.#consume(4);
      onPacket(this.#take(len));
    }
  }

  #peekLength(): number {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= 4) return first.readUInt32BE(this.#head);
    let v = 0;
    let ci = 0;
    let pos = this.#head;
    for (let i = 0; i < 4; i++) {
      while (pos >= this.#chunks[ci]!.length) {
        ci++;
        pos = 0;
      }
      v = v * 256 + this.#chunks[ci]![pos++]!;
    }
    return v;
  }

  #consume(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      const avail = first.length - this.#head;
      if (n < avail) {
        this.#head += n;
        return;
      }
      n -= avail;
      this.#chunks.shift();
      this.#head = 0;
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      this.#consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const part = Math.min(n - filled, c.length - this.#head);
      c.copy(out, filled, this.#head, this.#head + part);
      filled += part;
      this.#consume(part);
    }
    return out;
  }
}
