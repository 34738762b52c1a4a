/**
 * Folders made through this mount, or just listed and being filled through it, whose every name we
 * know: a lookup of any other name in one is answered "missing" without asking the remote. That is
 * what lets `tar -x` or `npm install` run at local speed: the kernel looks up every name before it
 * creates it.
 *
 * A folder is known while its mkdir has not reached the remote (nothing else can be in it), and
 * for a short grace after, renewed by every name made in it through the mount: a name made there
 * by someone else in that window shows up once the grace ends, as a cached listing would. A
 * barrier (fsync of a folder, `rmount sync`, an exec) ends every grace, so what a remote command
 * makes right after it is seen at once.
 */
const MAX_NAMES = 200_000;
/** Larger listings are not kept: a walk of a big tree must not fill the map. */
const MAX_LISTED = 5_000;

interface Known {
  /** Until when (ms) it is known: Infinity while its mkdir is pending. */
  until: number;
  /** The names made in it through the mount since it was made (or listed), with the listing's. */
  names: Set<string>;
  /**
   * True once a name was made in it through the mount (always for a folder made here): a listed
   * folder answers for itself only while a program is filling it. A folder merely looked at is
   * asked, as the VFS asks, since a remote build may be writing there.
   */
  active: boolean;
}

export class KnownFolders {
  readonly #folders = new Map<string, Known>();
  readonly #graceMs: number;
  readonly #now: () => number;
  #names = 0;

  constructor(graceMs: number, now: () => number = Date.now) {
    this.#graceMs = graceMs;
    this.#now = now;
  }

  /** A folder made here, not yet on the remote. */
  made(path: string): void {
    this.#folders.set(path, { until: Infinity, names: new Set(), active: true });
  }

  /**
   * The remote just listed `folder` (a lookup's listing, `ls`): its names are known for the grace,
   * renewed by names made in it through the mount (a program creating files in a folder it listed).
   */
  listed(folder: string, names: readonly string[]): void {
    if (names.length > MAX_LISTED) return;
    const known = this.#live(folder);
    if (known !== undefined) {
      for (const n of names) {
        if (!known.names.has(n)) {
          known.names.add(n);
          this.#names++;
        }
      }
      return;
    }
    this.#folders.set(folder, { until: this.#now() + this.#graceMs, names: new Set(names), active: false });
    this.#names += names.length;
    if (this.#names > MAX_NAMES) this.forgetAll();
  }

  /** Its mkdir is on the remote: known for the grace from now on. */
  onRemote(path: string): void {
    const known = this.#folders.get(path);
    if (known !== undefined) known.until = this.#now() + this.#graceMs;
  }

  /** `name` was made in `folder` through the mount (or moved there). */
  added(folder: string, name: string): void {
    const known = this.#live(folder);
    if (known === undefined) return;
    if (!known.names.has(name)) {
      known.names.add(name);
      if (++this.#names > MAX_NAMES) this.forgetAll();
    }
    if (known.until !== Infinity) known.until = this.#now() + this.#graceMs;
    known.active = true;
  }

  /** `name` was removed from `folder` through the mount (or moved away): a folder emptied so is known empty. */
  removed(folder: string, name: string): void {
    const known = this.#live(folder);
    if (known === undefined) return;
    if (known.names.delete(name)) this.#names--;
    if (known.until !== Infinity) known.until = this.#now() + this.#graceMs;
  }

  /** True when `folder` is known to hold nothing (every name it had was removed through the mount). */
  empty(folder: string): boolean {
    const known = this.#live(folder);
    return known !== undefined && known.names.size === 0;
  }

  /** True when `name` is missing from `folder` for sure. */
  missing(folder: string, name: string): boolean {
    const known = this.#live(folder);
    return known !== undefined && known.active && !known.names.has(name);
  }

  /** Every grace ends (a barrier); folders whose mkdir is still pending stay known. */
  forgetAll(): void {
    for (const [path, known] of this.#folders) {
      if (known.until !== Infinity) {
        this.#names -= known.names.size;
        this.#folders.delete(path);
      }
    }
  }

  /** The folder and what was under it are gone or moved. */
  forget(path: string): void {
    const prefix = `${path}/`;
    for (const [p, known] of this.#folders) {
      if (p === path || p.startsWith(prefix)) {
        this.#names -= known.names.size;
        this.#folders.delete(p);
      }
    }
  }

  #live(folder: string): Known | undefined {
    const known = this.#folders.get(folder);
    if (known === undefined) return undefined;
    if (known.until !== Infinity && this.#now() >= known.until) {
      this.#names -= known.names.size;
      this.#folders.delete(folder);
      return undefined;
    }
    return known;
  }
}
