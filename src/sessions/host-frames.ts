/**
 * The frames of rmount-agent's process host (native/agent/PROTOCOL.md, "Process host"): the
 * constants both sides agree on, an encoder and an incremental decoder. No stream logic here.
 */

/** Frame types. */
export const FRAME = {
  REQUEST: 1,
  REPLY: 2,
  DATA: 3,
  WINDOW: 4,
  EOF: 5,
  CLOSE: 6,
  EVENT: 7,
} as const;

/** uint32 length | uint8 type | uint32 stream. */
export const HEADER_LENGTH = 9;
/** The largest `length` field: type, stream and payload together. */
export const MAX_FRAME_LENGTH = 16 << 20;
/** What each direction of each stream may have in flight before the receiver returns credit. */
export const STREAM_WINDOW = 256 << 10;
/** The largest DATA payload this client sends (as the agent does); keeps streams taking turns. */
export const MAX_DATA = 32 << 10;

/** One decoded frame; `payload` may share memory with the chunk it came in. */
export interface Frame {
  type: number;
  stream: number;
  payload: Buffer;
}

/** The peer sent bytes that are not frames of this protocol. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * One frame:
 *
 *     uint32 length (5 + payload) | uint8 type | uint32 stream | payload
 */
export function encodeFrame(type: number, stream: number, payload: Uint8Array = EMPTY): Buffer {
  const length = 5 + payload.length;
  if (length > MAX_FRAME_LENGTH) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME_LENGTH}`);
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32BE(stream >>> 0, 5);
  frame.set(payload, HEADER_LENGTH);
  return frame;
}

/** A WINDOW payload: the credit as uint32. */
export function encodeCredit(bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes >>> 0, 0);
  return payload;
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a byte stream into frames. Chunks are kept as they came and copied only when a frame
 * spans several, so a 32 KiB DATA frame inside one large chunk costs no copy.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #size = 0;

  /**
   * Adds `chunk` and returns every frame now complete.
   * @throws FrameError on a length below 5 or above 16 MiB, as soon as the header is in.
   */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.#size >= HEADER_LENGTH) {
      const header = this.#peek(HEADER_LENGTH);
      const length = header.readUInt32BE(0);
      if (length < 5 || length > MAX_FRAME_LENGTH) throw new FrameError(`bad frame length ${length}`);
      if (this.#size < 4 + length) break;
      const frame = this.#take(4 + length);
      frames.push({ type: frame[4]!, stream: frame.readUInt32BE(5), payload: frame.subarray(HEADER_LENGTH) });
    }
    return frames;
  }

  /** Bytes held that are not yet a whole frame. */
  get pending(): number {
    return this.#size;
  }

  /** The first `n` bytes, joining chunks when the first is shorter (they stay queued). */
  #peek(n: number): Buffer {
    let count = 0;
    for (let have = 0; have < n; count++) have += this.#chunks[count]!.length;
    if (count > 1) this.#chunks.splice(0, count, Buffer.concat(this.#chunks.slice(0, count)));
    return this.#chunks[0]!;
  }

  #take(n: number): Buffer {
    this.#size -= n;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
