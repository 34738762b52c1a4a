/**
 * Paths of what this mount made (files, folders, symlinks). They showed our own inode numbers while
 * only the journal had them; once on the remote they would show the remote's, and a program that
 * compares st_ino across the change (tar checks its folder did not move) would see another file.
 * So their remote numbers stay hidden for as long as the mount lives, within a bound.
 */
const MAX_PATHS = 200_000;

export class MadeHere {
  /** Insertion-ordered, so the oldest is let go first past the bound. */
  readonly #paths = new Set<string>();

  add(path: string): void {
    this.#paths.delete(path);
    this.#paths.add(path);
    if (this.#paths.size > MAX_PATHS) {
      const oldest = this.#paths.values().next().value;
      if (oldest !== undefined) this.#paths.delete(oldest);
    }
  }

  get size(): number {
    return this.#paths.size;
  }

  has(path: string): boolean {
    return this.#paths.has(path);
  }

  delete(path: string): void {
    this.#paths.delete(path);
  }

  /** A rename: `from` and, for a folder, what is below it move to `to`. */
  move(from: string, to: string): void {
    if (this.#paths.delete(from)) this.add(to);
    const prefix = `${from}/`;
    // A folder's contents: a scan, bounded so that a huge set does not stall a rename.
    if (this.#paths.size > 20_000) return;
    for (const p of [...this.#paths]) {
      if (p.startsWith(prefix)) {
        this.#paths.delete(p);
        this.add(to + p.slice(from.length));
      }
    }
  }
}
