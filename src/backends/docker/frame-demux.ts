/**
 * The multiplexed stream of a Docker attach/exec without a TTY. Each frame is:
 *
 *   byte 0     stream: 0 stdin (echoed), 1 stdout, 2 stderr
 *   bytes 1-3  zero
 *   bytes 4-7  payload length, uint32 big-endian
 *   payload
 *
 * Nothing may be parsed before this demux: a payload may hold bytes that look like a header.
 */
import { Writable, type Writable as WritableType } from 'node:stream';

const HEADER = 8;

/** A Writable that splits frames into `stdout` and `stderr`, holding the source back while either is full. */
export class FrameDemux extends Writable {
  #pending: Buffer = Buffer.alloc(0);
  #type = -1;
  #left = 0;

  constructor(readonly out: WritableType, readonly err: WritableType) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = Buffer.alloc(0);
    const waits: WritableType[] = [];
    while (buf.length > 0) {
      if (this.#left === 0) {
        if (buf.length < HEADER) {
          this.#pending = Buffer.from(buf);
          break;
        }
        this.#type = buf[0]!;
        this.#left = buf.readUInt32BE(4);
        buf = buf.subarray(HEADER);
        continue;
      }
      const n = Math.min(this.#left, buf.length);
      const target = this.#type === 2 ? this.err : this.out;
      if (!target.write(buf.subarray(0, n)) && !waits.includes(target)) waits.push(target);
      this.#left -= n;
      buf = buf.subarray(n);
    }
    if (waits.length === 0) return done();
    let remaining = waits.length;
    for (const w of waits) w.once('drain', () => { if (--remaining === 0) done(); });
  }

  override _final(done: (error?: Error | null) => void): void {
    this.out.end();
    this.err.end();
    done();
  }
}

/** Encodes one frame (for tests and fakes). */
export function encodeFrame(stream: 0 | 1 | 2, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}
