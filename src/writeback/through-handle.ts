/**
 * A file opened for writing in place on the remote (an existing file opened without O_TRUNC: an
 * append to a log, a database): its writes go straight through, as without the journal. While one
 * is open, other opens of the same path for writing also go through, so that two copies of one
 * file never diverge.
 */
import { canFlush, type FileHandle, type FileStat, type SetAttr } from '../remote/file-client.ts';

export class ThroughHandle implements FileHandle {
  readonly inner: FileHandle;
  readonly #released: () => void;
  #closed = false;
  /** Present only where the handle underneath holds writes back (see FileHandle.flush). */
  readonly flush?: () => Promise<void>;

  constructor(inner: FileHandle, released: () => void) {
    this.inner = inner;
    this.#released = released;
    if (canFlush(inner)) this.flush = () => inner.flush();
  }

  get path(): string {
    return this.inner.path;
  }

  get inOrder(): boolean | undefined {
    return this.inner.inOrder;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.inner.read(buffer, offset, length, position);
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    return this.inner.write(buffer, offset, length, position);
  }

  stat(): Promise<FileStat> {
    return this.inner.stat();
  }

  setattr(attrs: SetAttr): Promise<void> {
    return this.inner.setattr(attrs);
  }

  sync(): Promise<void> {
    return this.inner.sync();
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#released();
    }
    await this.inner.close();
  }
}
