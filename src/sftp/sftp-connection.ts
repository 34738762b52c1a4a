/**
 * The request/response plumbing of SFTP v3 over any duplex stream: the INIT/VERSION handshake,
 * request ids, pipelining, batching of small packets, backpressure, the reader loop, unsolicited
 * events and the end of the stream. It knows no operation; `SftpClient` builds them on `request`.
 */

import type { Duplex } from 'node:stream';
import { EVENT_ID, FXP, SFTP_VERSION, packetTypeName } from './constants.ts';
import { PacketFramer, PacketReader, PacketWriter, SftpProtocolError } from './packet.ts';
import type { Decode } from './replies.ts';
import { SftpConnectionError } from './status.ts';

/** Packets below this size are gathered per turn; larger ones are written at once. */
const SMALL_PACKET = 4096;
/** A gathered write is flushed early once it reaches this size. */
const MAX_BATCH = 64 * 1024;

interface Pending {
  request: string;
  decode: Decode<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** SFTP's first packet: uint32 length, byte SSH_FXP_INIT, uint32 version. */
export function sftpInitPacket(): Buffer {
  return new PacketWriter(FXP.INIT, 9).u32(SFTP_VERSION).finish();
}

/**
 * One SFTP session on a stream. Requests are pipelined: each gets an id, goes out at once (or
 * when the stream drains) and is settled by the reader loop whatever order the replies come in.
 * When the stream errors, ends or is closed, every pending and later request rejects with
 * `SftpConnectionError`.
 */
export class SftpConnection {
  readonly name: string;
  #stream: Duplex;
  #framer = new PacketFramer();
  #pending = new Map<number, Pending>();
  #nextId = 0;
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
  /** Resolves `gone`; called by `#fail`. */
  #resolveGone!: () => void;
  /** Resolves once the transport is gone (closed, ended, broken, or `end()`); never rejects. */
  readonly gone = new Promise<void>(resolve => { this.#resolveGone = resolve; });

  private constructor(stream: Duplex, name: string) {
    this.#stream = stream;
    this.name = name;
    stream.on('data', this.#onData);
    stream.on('error', this.#onError);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
  }

  /**
   * Runs the INIT/VERSION handshake on `stream`. The stream belongs to the caller until this
   * resolves, then to the connection (`end()` ends it).
   * @throws SftpConnectionError when the stream closes or the server speaks no SFTP v3.
   */
  static async open(stream: Duplex, name: string, signal?: AbortSignal, initSent = false): Promise<SftpConnection> {
    const conn = new SftpConnection(stream, name);
    try {
      await conn.#handshake(signal, initSent);
    } catch (error) {
      await conn.end();
      throw error;
    }
    return conn;
  }

  /** Negotiated protocol version (3). */
  get version(): number {
    return this.#version;
  }

  /** Extensions the server advertised: name → version data. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
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

  /** Sends INIT unless the caller wrote it ahead (`sftpInitPacket`), then waits for VERSION. */
  #handshake(signal: AbortSignal | undefined, initSent: boolean): Promise<void> {
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
      if (!initSent) this.#send(sftpInitPacket());
    });
  }

  /**
   * Sends one request and resolves with `decode` of its reply. `encode` appends the fields after
   * the id; `sizeHint` sizes the packet buffer once.
   */
  request<T>(type: number, request: string, encode: (w: PacketWriter) => void, decode: Decode<T>, sizeHint = 256): Promise<T> {
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
  /** Sends one EXTENDED request named `ext`. */
  extended<T>(ext: string, encode: ((w: PacketWriter) => void) | undefined, decode: Decode<T>, sizeHint = 256): Promise<T> {
    return this.request(FXP.EXTENDED, ext, w => {
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
    this.#resolveGone();
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

  /**
   * Sets the receiver of unsolicited packets (watch@rmount events). It gets a reader positioned
   * after the request id and must not throw.
   */
  setEventListener(listener: ((r: PacketReader) => void) | undefined): void {
    this.#onEvent = listener;
  }
}
