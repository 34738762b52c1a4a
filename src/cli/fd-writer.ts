import { closeSync, writeSync } from 'node:fs';

/**
 * Whole writes to a descriptor, synchronously, for a reader that may go away: once a write fails
 * (EPIPE: the reader is gone) the descriptor is closed and later writes are dropped. Used where a
 * process reports to whoever waits for it, so a waiter that left ends the reports, never the work.
 */
export class FdWriter {
  #fd: number | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The descriptor, while open. */
  get fd(): number | undefined {
    return this.#fd;
  }

  /** Writes all of `text`; false once the descriptor is closed or the write failed. */
  write(text: string | Uint8Array): boolean {
    if (this.#fd === undefined) return false;
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(this.#fd, bytes, at);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed: nothing more to release.
    }
    this.#fd = undefined;
  }
}
