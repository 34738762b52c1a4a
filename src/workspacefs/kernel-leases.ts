/** Most inodes and missing names remembered; past it a command's end tells the kernel about every node. */
const MAX_LEASES = 200_000;

/**
 * What the kernel may answer from without asking us, for as long as we let it: inodes whose
 * attributes or names were handed to it, and names it was told are missing. Kept only where no
 * watch reports the remote's changes: there a remote command of ours (rmount exec, a path stub)
 * may have changed any of them, and they are told to the kernel again when it ends (see
 * Entries.commandEnded), so the local tool that runs next sees what the command made.
 */
export class KernelLeases {
  readonly #now: () => number;
  /** The longest lifetime the kernel is given for an entry, attributes or a missing name. */
  readonly #ttlMs: number;
  /** False once a watch reports changes: its barrier tells the kernel instead. */
  readonly #recording: () => boolean;
  /** Inode → when last handed out; Map order is that order, oldest first (re-handing moves it last). */
  readonly #inodes = new Map<number, number>();
  /** `parent/name` → the missing name and when the kernel was told, oldest first likewise. */
  readonly #missing = new Map<string, { parent: number; name: string; at: number }>();
  /** Set when more were handed out within one lifetime than are remembered (see MAX_LEASES). */
  #overflowed = false;

  constructor(now: () => number, ttlMs: number, recording: () => boolean) {
    this.#now = now;
    this.#ttlMs = ttlMs;
    this.#recording = recording;
  }

  /** The kernel was handed the attributes (and a name) of `ino`. */
  inode(ino: number): void {
    if (this.#ttlMs <= 0 || !this.#recording()) return;
    const now = this.#now();
    this.#inodes.delete(ino);
    this.#inodes.set(ino, now);
    this.#prune(now);
  }

  /** The kernel was told `name` in folder `parent` is missing. */
  missing(parent: number, name: string): void {
    if (this.#ttlMs <= 0 || !this.#recording()) return;
    const now = this.#now();
    const key = `${parent}/${name}`;
    this.#missing.delete(key);
    this.#missing.set(key, { parent, name, at: now });
    this.#prune(now);
  }

  /**
   * What the kernel may still hold, forgotten here (it is about to be told again): the inodes and
   * missing names, or 'all' when more were handed out than were remembered.
   */
  take(): { inodes: number[]; missing: { parent: number; name: string }[] } | 'all' {
    this.#prune(this.#now());
    const overflowed = this.#overflowed;
    const held = { inodes: [...this.#inodes.keys()], missing: [...this.#missing.values()] };
    this.#inodes.clear();
    this.#missing.clear();
    this.#overflowed = false;
    return overflowed ? 'all' : held;
  }

  /** Drops what the kernel has let go of by now (its lifetime ran out), and the oldest past the bound. */
  #prune(now: number): void {
    const before = now - this.#ttlMs;
    for (const [ino, at] of this.#inodes) {
      if (at >= before && this.#inodes.size <= MAX_LEASES) break;
      if (at >= before) this.#overflowed = true;
      this.#inodes.delete(ino);
    }
    for (const [key, { at }] of this.#missing) {
      if (at >= before && this.#missing.size <= MAX_LEASES) break;
      if (at >= before) this.#overflowed = true;
      this.#missing.delete(key);
    }
  }
}
