/**
 * The paths the journal holds changes for, at one moment, asked of whole remote answers (a
 * subtree, a batch of small files): what the remote said about a path near one of them may be
 * what the journal has changed, so that part of the answer is not shown.
 */
import { ancestors } from './path-set.ts';

export class PendingPaths {
  readonly #exact = new Set<string>();
  /** Folders with a pending path strictly below them. */
  readonly #above = new Set<string>();

  add(path: string): void {
    if (this.#exact.has(path)) return;
    this.#exact.add(path);
    for (const folder of ancestors(path)) {
      if (this.#above.has(folder)) break; // so are the folders above it
      this.#above.add(folder);
    }
  }

  /** True when a pending path is `path` itself or a folder above it. */
  atOrAbove(path: string): boolean {
    if (this.#exact.has(path)) return true;
    for (const folder of ancestors(path)) if (this.#exact.has(folder)) return true;
    return false;
  }

  /** True when a pending path is `path`, above it or below it. */
  touches(path: string): boolean {
    return this.#above.has(path) || this.atOrAbove(path);
  }
}
