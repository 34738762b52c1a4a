/**
 * Counts of remote paths held by pending operations, so that a new operation can tell in a few
 * map lookups whether it must wait: another on the same path, on a folder above it, or on
 * anything below it.
 */
export class PathSet {
  /** Operations holding exactly this path. */
  readonly #exact = new Map<string, number>();
  /** Operations holding a path strictly below this folder. */
  readonly #below = new Map<string, number>();

  add(path: string): void {
    this.#exact.set(path, (this.#exact.get(path) ?? 0) + 1);
    for (const folder of ancestors(path)) this.#below.set(folder, (this.#below.get(folder) ?? 0) + 1);
  }

  delete(path: string): void {
    dec(this.#exact, path);
    for (const folder of ancestors(path)) dec(this.#below, folder);
  }

  /** True when an operation on `path` would touch one held here: the same path, above or below. */
  conflicts(path: string): boolean {
    if (this.#exact.has(path) || this.#below.has(path)) return true;
    for (const folder of ancestors(path)) if (this.#exact.has(folder)) return true;
    return false;
  }

  get size(): number {
    return this.#exact.size;
  }
}

/** The folders above `path`, nearest first ("/a/b/c" → "/a/b", "/a", "/"). */
export function* ancestors(path: string): Generator<string> {
  let end = path.lastIndexOf('/');
  while (end > 0) {
    yield path.slice(0, end);
    end = path.lastIndexOf('/', end - 1);
  }
  if (path.length > 1) yield '/';
}

function dec(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
