import { canFlush, type FileHandle, type FileStat } from '../remote/file-client.ts';
import { FsError, isFsError } from '../remote/fs-error.ts';
import type { Node } from './inode-table.ts';
import type { RemoteCaller } from './remote-call.ts';
import type { Counters } from './stats.ts';
import type { Gatherer, PendingWrite, WriteOrder } from './write-order.ts';

/** Tuning of one open file, from the workspace options. */
export interface OpenFileTuning {
  writeGatherBytes: number;
  writeInFlightBytes: number;
  writeFlushDelayMs: number;
  readAheadBytes: number;
  readChunkBytes: number;
}

/** Read-ahead reaches this many times the bytes of the sequential run so far (up to the window). */
const READ_AHEAD_RAMP = 2;

/** One read-ahead chunk; `data` is short only at end of file. */
interface Chunk {
  data: Promise<Buffer>;
}

/**
 * An open file handle of the VFS: the remote FileHandle plus write gathering and read-ahead.
 *
 * Writes: consecutive writes are gathered into one buffer and sent as one large remote write
 * when it is full, when the file is read/stat'ed/flushed, when another descriptor of the same
 * file writes, or after a short idle time. The send runs in the background; its failure is kept
 * and reported by the next write, flush or fsync, never dropped. The file's {@link WriteOrder},
 * shared by all its descriptors, makes bytes land in the order the kernel issued them.
 *
 * Reads: once reads are sequential, aligned chunks are fetched ahead, concurrently, up to twice
 * what the run has read so far and at most the read-ahead window, and later reads are served
 * from them. Any write drops the window and starts the run again.
 */
export class OpenFile implements Gatherer {
  readonly node: Node;
  readonly remote: FileHandle;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly append: boolean;
  readonly #caller: RemoteCaller;
  readonly #counters: Counters;
  readonly #tuning: OpenFileTuning;
  /** Shared by every descriptor of `node`. */
  readonly #order: WriteOrder;

  #buffer: Buffer[] = [];
  #bufferStart = 0;
  #bufferLength = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  /** This descriptor's sends not yet acknowledged (also tracked by `#order`). */
  readonly #inFlight = new Set<PendingWrite>();
  #inFlightBytes = 0;
  #error: FsError | undefined;

  /** The whole file, read ahead before it was opened (read-only handles); dropped by any change. */
  #preloaded: Buffer | undefined;
  readonly #chunks = new Map<number, Chunk>();
  /** Where the last read asked for ends: a read starting there continues a sequential run. */
  #lastReadEnd = -1;
  /**
   * Bytes asked for in the current sequential run. Read-ahead starts and widens with it, so that
   * reads at random places (a database, a mix of reads and writes through a mapping) never fetch
   * chunks they do not use: the kernel's own read-ahead makes runs of two or three reads there.
   */
  #streak = 0;
  /** Chunk index at which the file ended when last read ahead, if known. */
  #eofChunk = Infinity;

  constructor(node: Node, remote: FileHandle, mode: { read: boolean; write: boolean; append: boolean },
    caller: RemoteCaller, counters: Counters, tuning: OpenFileTuning, order: WriteOrder, preloaded?: Buffer) {
    this.#preloaded = preloaded;
    this.node = node;
    this.remote = remote;
    this.readable = mode.read;
    this.writable = mode.write;
    this.append = mode.append;
    this.#caller = caller;
    this.#counters = counters;
    this.#tuning = tuning;
    this.#order = order;
  }

  /** The remote path the handle was opened with (for messages; the file may have moved since). */
  get path(): string {
    return this.remote.path;
  }

  /** True while written bytes have not been acknowledged by the remote. */
  get dirty(): boolean {
    return this.#bufferLength > 0 || this.#inFlight.size > 0;
  }

  /**
   * Gathers `data` for position `position` (ignored in append mode). Resolves with its length once
   * buffered; waits only when too many bytes are in flight. Rejects with the error of an earlier
   * background write (which stays pending for flush).
   */
  async write(data: Buffer, position: number): Promise<number> {
    if (this.#error !== undefined) throw this.#error;
    this.dropReadAhead();
    this.#order.claim(this);
    if (this.#bufferLength > 0 && !this.append && this.#bufferStart + this.#bufferLength !== position) this.#send();
    if (this.#bufferLength === 0) this.#bufferStart = position;
    this.#buffer.push(data);
    this.#bufferLength += data.length;
    if (this.#bufferLength >= this.#tuning.writeGatherBytes) this.#send();
    else this.#armFlushTimer();
    while (this.#inFlightBytes > this.#tuning.writeInFlightBytes && this.#inFlight.size > 0) {
      await Promise.race([...this.#inFlight].map(f => f.done));
    }
    return data.length;
  }

  /** Sends what is buffered and waits until every write is acknowledged. Never rejects. */
  async settle(): Promise<void> {
    this.#send();
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight].map(f => f.done));
  }

  /**
   * Settles writes and has the remote handle push what it still holds (close(2) semantics).
   * Rejects with the remote's error; background write errors stay for `takeError`.
   */
  async push(): Promise<void> {
    await this.settle();
    const remote = this.remote;
    if (canFlush(remote)) await this.#caller.call('handle.flush', this.path, () => remote.flush());
  }

  /**
   * {@link push}, with the file's attributes asked for right behind its writes: a close(2) then
   * costs one round trip and leaves the remote's attributes, so a stat after it needs none.
   * Resolves with them only where they must include every write of the file: the remote handle
   * carries out calls in order (FileHandle.inOrder) and holds no writes back, and every send of
   * any descriptor was issued before the ask and answered with it. Rejects as `push`.
   */
  async pushAndStat(): Promise<FileStat | undefined> {
    const asked = this.sendAhead() ? this.statBehind() : undefined;
    await this.push();
    const stat = await asked;
    // A send of another descriptor still in flight may be sent again on another handle after a
    // reconnect, behind the ask: its answer may then miss it. (A write begun after the ask is
    // caught by the caller's Attributes.asking token.)
    return this.#order.idle ? stat : undefined;
  }

  /** The file's attributes asked for now, behind what was handed to the remote handle before; undefined when the ask failed. */
  statBehind(): Promise<FileStat | undefined> {
    const remote = this.remote;
    return this.#caller.call('handle.stat', this.path, () => remote.stat()).catch(() => undefined);
  }

  /**
   * Starts sending what is gathered, and says whether a call made on the remote handle right now
   * comes after every write of the file: the handle carries out calls in order
   * (FileHandle.inOrder) and holds none back, and every send of every descriptor of the file has
   * been handed to it. Then a read or stat need not wait for the writes' answers.
   */
  sendAhead(): boolean {
    this.#send();
    const remote = this.remote;
    return remote.inOrder === true && !canFlush(remote) && this.#order.issued;
  }

  /** The failure of a background write since the last call, cleared by this call. */
  takeError(): FsError | undefined {
    const error = this.#error;
    this.#error = undefined;
    return error;
  }

  /**
   * Reads up to `size` bytes at `offset`, from read-ahead chunks when reads are sequential. The
   * caller first makes the file's writes reach the remote before it (Handles.settleForRead).
   */
  async read(size: number, offset: number): Promise<Buffer> {
    const preloaded = this.#preloaded;
    if (preloaded !== undefined) return preloaded.subarray(Math.min(offset, preloaded.length), Math.min(preloaded.length, offset + size));
    const chunkSize = this.#tuning.readChunkBytes;
    const first = Math.floor(offset / chunkSize);
    const continues = size > 0 && ((offset === this.#lastReadEnd && offset > 0) || this.#chunks.has(first));
    // A new run: what was fetched for the last one goes (and the run counts from this read).
    if (!continues) this.dropReadAhead();
    // Taken before the answer: the kernel sends the next read of a sequential run while this
    // one is still out, and it must count as continuing.
    this.#lastReadEnd = offset + size;
    const windowChunks = Math.min(Math.ceil(this.#tuning.readAheadBytes / chunkSize), Math.floor(READ_AHEAD_RAMP * this.#streak / chunkSize));
    this.#streak += size;
    let out: Buffer;
    if (windowChunks === 0 && !this.#chunks.has(first)) {
      out = await this.#direct(size, offset);
      this.#counters.cache.readAhead.misses++;
    } else {
      out = await this.#fromChunks(size, offset, first, windowChunks).catch(() => {
        // A failed prefetch is retried as a plain read; that one reports the error if it persists.
        this.dropReadAhead();
        return this.#direct(size, offset);
      });
      this.#counters.cache.readAhead.hits++;
    }
    return out;
  }

  /** Forgets prefetched data (the file changed through the VFS). */
  dropReadAhead(): void {
    this.#preloaded = undefined;
    this.#streak = 0;
    this.#chunks.clear();
    this.#eofChunk = Infinity;
  }

  /** Settles writes, then closes the remote handle. Resolves with the unreported write error, if any. */
  async close(): Promise<FsError | undefined> {
    await this.settle();
    clearTimeout(this.#flushTimer);
    this.dropReadAhead();
    const error = this.takeError();
    this.#order.release(this);
    await this.#caller.call('handle.close', this.path, () => this.remote.close());
    return error;
  }

  async #direct(size: number, offset: number): Promise<Buffer> {
    // Not zero-filled: only the `n` bytes the remote wrote are ever handed out.
    const buffer = Buffer.allocUnsafe(size);
    const n = await this.#caller.call('handle.read', this.path, () => this.remote.read(buffer, 0, size, offset));
    this.#counters.remoteBytesRead += n;
    return buffer.subarray(0, n);
  }

  async #fromChunks(size: number, offset: number, first: number, windowChunks: number): Promise<Buffer> {
    const chunkSize = this.#tuning.readChunkBytes;
    const last = Math.floor((offset + size - 1) / chunkSize);
    for (const index of this.#chunks.keys()) if (index < first) this.#chunks.delete(index);
    for (let i = first; i <= last + windowChunks && i <= this.#eofChunk; i++) this.#chunk(i);
    if (first === last) {
      // The usual case (kernel reads of up to 1 MiB inside one chunk): a view, no copy.
      const chunk = this.#chunks.get(first);
      if (chunk === undefined) return Buffer.alloc(0);
      const data = await chunk.data;
      const from = offset - first * chunkSize;
      return data.subarray(Math.min(from, data.length), Math.min(data.length, from + size));
    }
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    for (let i = first; i <= last && filled < size; i++) {
      const chunk = this.#chunks.get(i);
      if (chunk === undefined) break; // beyond end of file
      const data = await chunk.data;
      const from = Math.max(0, offset + filled - i * chunkSize);
      filled += data.copy(out, filled, from, Math.min(data.length, from + size - filled));
      if (data.length < chunkSize) break;
    }
    return out.subarray(0, filled);
  }

  #chunk(index: number): void {
    if (this.#chunks.has(index)) return;
    const chunkSize = this.#tuning.readChunkBytes;
    const data = this.#direct(chunkSize, index * chunkSize).then(buffer => {
      if (buffer.length < chunkSize) this.#eofChunk = Math.min(this.#eofChunk, index);
      return buffer;
    });
    // Prefetched chunks may never be awaited (window dropped); their failure is reported by the read that needs them.
    data.catch(() => {});
    this.#chunks.set(index, { data });
  }

  #armFlushTimer(): void {
    if (this.#flushTimer !== undefined || this.#tuning.writeFlushDelayMs <= 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#send();
    }, this.#tuning.writeFlushDelayMs);
    this.#flushTimer.unref();
  }

  /** Starts sending the gathered bytes (another descriptor of the file is about to write). */
  sendGathered(): void {
    this.#send();
  }

  /** Starts sending the gathered buffer; tracked in #inFlight and by the file's order until acknowledged. */
  #send(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#bufferLength === 0) return;
    const data = this.#buffer.length === 1 ? this.#buffer[0]! : Buffer.concat(this.#buffer, this.#bufferLength);
    const start = this.#bufferStart;
    const end = start + data.length;
    this.#buffer = [];
    this.#bufferLength = 0;
    this.#order.release(this);
    const before = this.#order.after(start, end, this.append);
    const entry: PendingWrite = { start, end, append: this.append, issued: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        // Handed to the remote handle at once when nothing is before it, so a stat asked for next
        // comes after it (see pushAndStat).
        if (before.length > 0) await Promise.all(before);
        entry.issued = true;
        await this.#caller.call('handle.write', this.path, () => this.remote.write(data, 0, data.length, start));
        this.#counters.remoteBytesWritten += data.length;
      } catch (error) {
        // RemoteCaller only throws FsError. The client already sent the write again on every new
        // transport it could make, so a transport error here means it was not delivered: kept and
        // reported as EIO by the next write, flush, fsync or close, like a timeout.
        this.#error ??= isFsError(error, 'ENOTCONN') || isFsError(error, 'ECONNABORTED')
          ? new FsError('EIO', 'handle.write', this.path, { cause: error })
          : error as FsError;
      } finally {
        this.#inFlight.delete(entry);
        this.#inFlightBytes -= data.length;
      }
    })();
    this.#inFlight.add(entry);
    this.#order.track(entry);
    this.#inFlightBytes += data.length;
  }
}
