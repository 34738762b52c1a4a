/** One send of gathered bytes on its way to the remote. `done` never rejects. */
export interface PendingWrite {
  start: number;
  end: number;
  /** Sent through an O_APPEND handle: the remote picks the offset, so it may land anywhere past the end. */
  append: boolean;
  /** Handed to the remote handle (no longer waiting for an earlier send it overlaps). */
  issued: boolean;
  done: Promise<void>;
}

/** A descriptor that gathers writes before sending them (an open file of the VFS). */
export interface Gatherer {
  /** Starts sending what it has gathered (tracked here until acknowledged). */
  sendGathered(): void;
}

/**
 * The order of writes to one file across all its open descriptors, so that the remote sees them
 * in the order the kernel issued them. Two rules keep it:
 *
 * - At most one descriptor holds gathered, unsent bytes: before another descriptor gathers, the
 *   holder sends what it has (`claim`). Bytes gathered later are therefore sent later.
 * - A send waits for every earlier send it could overlap: the same byte range, and any append
 *   (whose offset only the remote knows) before or after it (`after`). Remote writes may complete
 *   in any order (the local backend writes on a thread pool), so issuing in order is not enough.
 *
 * Without these, a descriptor kept open (an editor, a log writer) would send its older bytes
 * after a second descriptor's newer ones had landed, and overwrite them.
 */
export class WriteOrder {
  /** Sends not yet acknowledged, from every descriptor of the file; written only by `track`. */
  readonly #inFlight = new Set<PendingWrite>();
  /** The descriptor holding gathered, unsent bytes; written only by `claim` and `release`. */
  #gatherer: Gatherer | undefined;

  /** True while no descriptor of the file has bytes gathered or in flight. */
  get idle(): boolean {
    return this.#gatherer === undefined && this.#inFlight.size === 0;
  }

  /** True when no descriptor holds gathered bytes and every send in flight was handed to the remote handle. */
  get issued(): boolean {
    if (this.#gatherer !== undefined) return false;
    for (const w of this.#inFlight) if (!w.issued) return false;
    return true;
  }

  /** `file` is about to gather bytes: another descriptor's gathered bytes are sent first. */
  claim(file: Gatherer): void {
    const holder = this.#gatherer;
    this.#gatherer = file;
    if (holder !== undefined && holder !== file) holder.sendGathered();
  }

  /** `file` has sent what it gathered (or is closing). */
  release(file: Gatherer): void {
    if (this.#gatherer === file) this.#gatherer = undefined;
  }

  /** What a send of bytes [start, end) (through an append handle when `append`) must wait for. */
  after(start: number, end: number, append: boolean): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const w of this.#inFlight) {
      if (append || w.append || (w.start < end && start < w.end)) out.push(w.done);
    }
    return out;
  }

  /** Tracks `write` until its `done` settles. */
  track(write: PendingWrite): void {
    this.#inFlight.add(write);
    void write.done.finally(() => this.#inFlight.delete(write));
  }
}
