import type { CacheWatch } from './cache-watch.ts';

/** Most names remembered as missing per directory before the oldest are dropped. */
const PER_DIR_MAX = 4096;

/**
 * Names known not to exist, per directory inode, each until its expiry. Saves the round trip for
 * the many stats of missing files an editor or git makes (.git/index.lock, .editorconfig, ...).
 */
export class NegativeCache {
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Keeps names found missing while it is live past their lifetime. */
  readonly #watch: CacheWatch | undefined;
  readonly #dirs = new Map<number, Map<string, number>>();

  constructor(ttlMs: number, now: () => number, watch?: CacheWatch) {
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#watch = watch;
  }

  /** Remembers that `name` does not exist in directory `parent`. */
  add(parent: number, name: string): void {
    if (this.#ttlMs <= 0) return;
    let names = this.#dirs.get(parent);
    if (names === undefined) this.#dirs.set(parent, (names = new Map()));
    names.delete(name);
    names.set(name, this.#now() + this.#ttlMs);
    if (names.size > PER_DIR_MAX) {
      const oldest = names.keys().next();
      if (oldest.done !== true) names.delete(oldest.value);
    }
  }

  /** True while `name` is known missing in `parent`. */
  has(parent: number, name: string): boolean {
    const names = this.#dirs.get(parent);
    const expires = names?.get(name);
    if (names === undefined || expires === undefined) return false;
    const watch = this.#watch;
    if (watch === undefined ? expires > this.#now() : watch.valid(expires, this.#ttlMs)) return true;
    names.delete(name);
    if (names.size === 0) this.#dirs.delete(parent);
    return false;
  }

  /** Forgets one name (it was just created). */
  delete(parent: number, name: string): void {
    const names = this.#dirs.get(parent);
    if (names === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#dirs.delete(parent);
  }

  /** Forgets everything about directory `parent`. */
  deleteDir(parent: number): void {
    this.#dirs.delete(parent);
  }
}
