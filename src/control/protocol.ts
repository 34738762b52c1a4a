/**
 * The control socket's wire format, shared by the server in the mount daemon and the lean client
 * that `rmount exec`, `status` and `cache flush` use. Pure: no sockets here.
 *
 * A connection starts in envelope mode: newline-delimited JSON `{ "type", "payload" }`, one per
 * line, answered in order. The server speaks first (`hello`, carrying an ownership challenge);
 * the client answers `auth` and may send its first request right behind it. An `exec` request
 * switches the connection into framed mode for good, in both directions, right after its line.
 *
 * Framed mode, one frame:
 *
 *     byte 0      channel: 0 stdin, 1 stdout, 2 stderr, 3 control
 *     bytes 1-4   payload length, unsigned 32-bit big-endian
 *     bytes 5-    payload (raw bytes; for control, one JSON object)
 *
 * An empty stdin frame is end-of-file. Control frames from the client: `{"resize":{cols,rows}}`,
 * `{"signal":"SIGINT"}`. From the server: `{"started":{"pty":bool}}`, then output frames, then
 * `{"exit":{"code","signal"}}` or `{"error":{"code","message"}}`, and the server ends the stream.
 */

import type { FailedOperation, WriteBackStatus } from '../remote/write-back.ts';

/** Protocol version carried by `hello`; a client refuses a server with another one. */
export const PROTOCOL_VERSION = 1;

/** Frame channels. */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, control: 3 } as const;
export type Channel = (typeof CHANNEL)[keyof typeof CHANNEL];

/** The frame header size: channel byte and 32-bit length. */
export const FRAME_HEADER = 5;
/** Largest payload a peer accepts in one frame; bigger output is split by the sender. */
export const MAX_FRAME = 1 << 20;

/** The health of a mount as its daemon sees it: the link's state, or `degraded` while operations time out on a ready link. */
export type HealthState = 'connecting' | 'ready' | 'degraded' | 'reconnecting' | 'closed';

/** The link part of `health` and `status`: the backend's LinkHealth, plus how long it has been down. */
export interface LinkReport {
  /** The link's own state (never `degraded`). */
  state: 'connecting' | 'ready' | 'reconnecting' | 'closed';
  /** ISO time of the link's last state change. */
  since: string;
  /** ISO time the link went down, while it is reconnecting. */
  downSince?: string;
  /** Whole seconds since `downSince`, while it is reconnecting. */
  downSeconds?: number;
  /** How often the link came back after a loss. */
  reconnects: number;
  /** The last error the link saw (the loss, or the last failed attempt). */
  lastError?: WireError;
}

/** `health` answer. */
export interface HealthPayload {
  state: HealthState;
  /** Why the health is not `ready`, when it is not. */
  reason?: string;
  link: LinkReport;
}

/** One envelope. */
export interface Envelope {
  type: string;
  payload?: unknown;
}

/** `hello`: the server's greeting and the ownership challenge (see server.ts). */
export interface HelloPayload {
  version: number;
  /** Create this file (O_EXCL, mode 0600) holding `nonce`, then send `auth`. */
  challenge: string;
  nonce: string;
}

/** `exec` request. */
export interface ExecRequest {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  pty?: { cols: number; rows: number; term?: string };
}

/** A failure carried in an `error` envelope or control frame. */
export interface WireError {
  code: string;
  message: string;
  /** What to do about it, when the error knows. */
  suggestion?: string;
  /** ERR_WRITEBACK_FAILED: the operations the remote refused (they stay in the journal). */
  failed?: FailedOperation[];
}

/**
 * `sync` request: waits until every change the mount accepted before it is on the remote.
 * `retry` sends the refused ones again first; `discard` drops them instead (no wait).
 */
export interface SyncRequest {
  retry?: boolean;
  discard?: boolean;
}

/** `sync` answer; a refusal comes as an `error` envelope with code ERR_WRITEBACK_FAILED and `failed`. */
export interface SyncAnswer {
  /** `discard`: the paths whose refused changes were dropped. */
  discarded?: string[];
}

/** Counters and state answered to `status`. */
export interface MountStatusPayload {
  destination: string;
  mountpoint: string;
  remotePath: string;
  pid: number;
  health: HealthState;
  /** Why the health is not `ready`, when it is not. */
  reason?: string;
  /** The connection: state, since when, how long down, reconnects, last error. */
  link: LinkReport;
  startedAt: string;
  ops: number;
  opsByName: Record<string, number>;
  /** Calls the VFS made to the remote, by name (lstat, readdir, handle.write, ...). */
  remoteCallsByName: Record<string, number>;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
  remoteBytesRead: number;
  remoteBytesWritten: number;
  cacheHits: number;
  cacheMisses: number;
  /** hits / (hits + misses) over the attr, entry, negative, dir and readlink caches; null before any lookup. */
  cacheHitRatio: number | null;
  /** Remote change notifications (the agent's watch) keep the caches right. */
  watch: boolean;
  /** Exec sessions running now and started since the mount. */
  execRunning: number;
  execStarted: number;
  /** Inodes the mount holds, folder listings kept and their entries: what its memory goes to. */
  inodes: number;
  listings: number;
  listingEntries: number;
  /** The daemon's resident memory and its JavaScript heap in use, in bytes. */
  rssBytes: number;
  heapUsedBytes: number;
  /** The write-back journal, when the mount keeps one. */
  writeBack?: WriteBackStatus;
}

/** Renders one envelope line. */
export function renderEnvelope(type: string, payload?: unknown): string {
  return `${JSON.stringify(payload === undefined ? { type } : { type, payload })}\n`;
}

/** Parses one envelope line; throws SyntaxError/TypeError on anything else. */
export function parseEnvelope(line: string): Envelope {
  const value = JSON.parse(line) as unknown;
  if (typeof value !== 'object' || value === null || typeof (value as Envelope).type !== 'string') {
    throw new TypeError('control: an envelope needs a string "type"');
  }
  return value as Envelope;
}

/** Encodes one frame (header and payload in one buffer). */
export function encodeFrame(channel: Channel, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out[0] = channel;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** Encodes a control frame carrying `value` as JSON. */
export function encodeControl(value: unknown): Buffer {
  return encodeFrame(CHANNEL.control, Buffer.from(JSON.stringify(value)));
}

/** One decoded frame. `payload` may share memory with the input chunks. */
export interface Frame {
  channel: Channel;
  payload: Buffer;
}

/**
 * Splits a byte stream into frames. `push` returns the frames completed by `chunk`; a partial
 * frame is kept for the next call. Throws on an unknown channel or an oversized frame.
 */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Frame[] = [];
    while (buf.length >= FRAME_HEADER) {
      const channel = buf[0]!;
      if (channel > CHANNEL.control) throw new RangeError(`control: unknown frame channel ${channel}`);
      const length = buf.readUInt32BE(1);
      if (length > MAX_FRAME) throw new RangeError(`control: frame of ${length} bytes exceeds ${MAX_FRAME}`);
      if (buf.length < FRAME_HEADER + length) break;
      frames.push({ channel: channel as Channel, payload: buf.subarray(FRAME_HEADER, FRAME_HEADER + length) });
      buf = buf.subarray(FRAME_HEADER + length);
    }
    // Copy the tail so a big chunk is not kept alive by a few leftover bytes.
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return frames;
  }
}

/**
 * Splits envelope mode input into lines, one at a time, because the line after which framed mode
 * starts must not swallow the frames behind it: `takeRest` hands those bytes over.
 */
export class LineDecoder {
  #pending: Buffer = Buffer.alloc(0);

  /** Adds received bytes. */
  append(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
  }

  /** The next complete line, if there is one; the bytes after it stay pending. */
  next(): string | undefined {
    const nl = this.#pending.indexOf(10);
    if (nl < 0) return undefined;
    const line = this.#pending.subarray(0, nl).toString('utf8');
    this.#pending = this.#pending.subarray(nl + 1);
    return line;
  }

  /** Hands over the pending bytes (the start of framed mode) and empties the decoder. */
  takeRest(): Buffer {
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }
}
