/**
 * One stream of the process host's multiplexer as a node Duplex, with the protocol's flow
 * control: DATA never goes past the host's window, and credit goes back only as the consumer
 * takes the bytes, so a reader that stops makes the host stop too.
 */
import { Duplex } from 'node:stream';
import { encodeCredit, FRAME, MAX_DATA, STREAM_WINDOW } from './host-frames.ts';

/** What a stream needs from its multiplexer. */
export interface StreamLink {
  /** Queues one frame on the transport; never waits, a no-op once the connection is gone. */
  send(type: number, stream: number, payload?: Uint8Array): void;
  /** True while the transport's own buffer is full; DATA then waits for `HostStream.handleDrain`. */
  congested(): boolean;
  /** The stream is finished on the wire: its id takes no more frames. */
  forget(stream: HostStream): void;
}

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  callback: (error?: Error | null) => void;
}

/**
 * A stream of the host connection. Besides the Duplex events it emits `'event'` (the parsed JSON
 * of an EVENT frame on this stream) and `'reset'` (a reason: the host sent CLOSE, broke the
 * window, or the connection is gone), right before it destroys itself; unread output is then
 * dropped. Ending the writable side sends EOF; `destroy()` sends CLOSE. Writes after a reset are
 * dropped, as the protocol drops DATA that crosses a CLOSE.
 */
export class HostStream extends Duplex {
  readonly id: number;
  readonly #link: StreamLink;

  /** DATA received and not yet pushed to the readable side; at most the window. */
  #inbox: Buffer[] = [];
  #inboxBytes = 0;
  /** Bytes pushed to the consumer whose credit is not yet sent back. */
  #uncredited = 0;
  /** The readable side asked for more (node called `_read` and `push` has not said stop). */
  #wantRead = false;
  #delivering = false;
  #recvEOF = false;
  #endPushed = false;

  /** What the host still lets us send on this stream. */
  #credit = STREAM_WINDOW;
  #pending: PendingWrite | undefined;
  #sentEOF = false;
  /** Forgotten by the multiplexer: EOF both ways, a CLOSE either way, or the connection gone. */
  #finished = false;
  #resetReason: string | undefined;

  constructor(id: number, link: StreamLink) {
    super({ allowHalfOpen: true });
    this.id = id;
    this.#link = link;
  }

  /** Why the stream was reset, once it was. */
  get resetReason(): string | undefined {
    return this.#resetReason;
  }

  /** A DATA, WINDOW, EOF, CLOSE or EVENT frame for this stream (the multiplexer's read loop). */
  handleFrame(type: number, payload: Buffer): void {
    switch (type) {
      case FRAME.DATA: return this.#onData(payload);
      case FRAME.WINDOW:
        if (payload.length === 4) {
          this.#credit += payload.readUInt32BE(0);
          this.#pump();
        }
        return;
      case FRAME.EOF:
        this.#recvEOF = true;
        if (this.#sentEOF) this.#finish();
        this.#deliver();
        return;
      case FRAME.CLOSE: return this.reset('the host closed the stream');
      case FRAME.EVENT: {
        let body: unknown;
        try {
          body = JSON.parse(payload.toString('utf8'));
        } catch {
          return; // an event we cannot read changes nothing we rely on
        }
        this.emit('event', body);
      }
    }
  }

  /** The transport can take more: go on sending. */
  handleDrain(): void {
    this.#pump();
  }

  /** Ends the stream at once without telling the host (it sent CLOSE, or the connection is gone). */
  reset(reason: string): void {
    if (this.#resetReason !== undefined || this.destroyed) return;
    this.#resetReason = reason;
    this.#finish();
    this.#pump(); // drops what waited for credit, and lets its writer go on
    this.emit('reset', reason);
    this.destroy();
  }

  #onData(payload: Buffer): void {
    if (this.#recvEOF || this.#inboxBytes + this.#uncredited + payload.length > STREAM_WINDOW) {
      // The host broke the protocol on this stream only: reset it, as the host would.
      this.#link.send(FRAME.CLOSE, this.id);
      this.reset(this.#recvEOF ? 'the host sent DATA after EOF' : 'the host sent DATA beyond the window');
      return;
    }
    this.#inbox.push(payload);
    this.#inboxBytes += payload.length;
    if (this.#wantRead) this.#deliver();
  }

  override _read(): void {
    this.#wantRead = true;
    this.#deliver();
  }

  /** Moves DATA to the readable side while it wants more, and returns credit for what moved. */
  #deliver(): void {
    if (this.#delivering) return; // push() may call _read again
    this.#delivering = true;
    try {
      while (this.#wantRead && this.#inbox.length > 0 && !this.destroyed) {
        const chunk = this.#inbox.shift()!;
        this.#inboxBytes -= chunk.length;
        this.#uncredited += chunk.length;
        this.#wantRead = this.push(chunk);
      }
      if (this.#inbox.length === 0 && this.#recvEOF && !this.#endPushed && !this.destroyed) {
        this.#endPushed = true;
        this.push(null);
      }
    } finally {
      this.#delivering = false;
    }
    // Batched as the agent does: a quarter window, or everything once the inbox ran dry.
    if (this.#uncredited > 0 && !this.#recvEOF && !this.#finished
      && (this.#uncredited >= STREAM_WINDOW / 4 || this.#inbox.length === 0)) {
      this.#link.send(FRAME.WINDOW, this.id, encodeCredit(this.#uncredited));
      this.#uncredited = 0;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending = { chunk, offset: 0, callback };
    this.#pump();
  }

  /** Sends as much of the pending write as the window and the transport allow. */
  #pump(): void {
    const write = this.#pending;
    if (write === undefined) return;
    while (write.offset < write.chunk.length && !this.#finished) {
      if (this.#credit <= 0 || this.#link.congested()) return; // WINDOW or the transport's drain calls back
      const n = Math.min(write.chunk.length - write.offset, this.#credit, MAX_DATA);
      this.#link.send(FRAME.DATA, this.id, write.chunk.subarray(write.offset, write.offset + n));
      this.#credit -= n;
      write.offset += n;
    }
    this.#pending = undefined;
    write.callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#finished && !this.#sentEOF) {
      this.#sentEOF = true;
      this.#link.send(FRAME.EOF, this.id);
      if (this.#recvEOF) this.#finish();
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#finished) {
      this.#link.send(FRAME.CLOSE, this.id);
      this.#finish();
    }
    this.#inbox = [];
    this.#inboxBytes = 0;
    const write = this.#pending;
    this.#pending = undefined;
    write?.callback(); // dropped, as after a reset; its writer must not wait forever
    callback(error);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#link.forget(this);
  }
}
