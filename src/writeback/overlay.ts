/**
 * What the namespace looks like with the journal's changes applied: the names made, removed or
 * moved here and not yet on the remote. Lookups, stats and listings consult it before the remote.
 */
import type { FileStat } from '../remote/file-client.ts';
import type { Entry } from './op-queue.ts';
import type { StagedFile } from './staged-file.ts';

/**
 * Where the remote holds what an entry shows while renames that brought it here are pending: at
 * `origin`, moved by each of `moves` (in order) that landed. A folder's move is appended to those
 * of what was below it, so a path folds every rename that moved it.
 */
export interface Moved {
  readonly origin: string;
  readonly moves: readonly Entry[];
}

export type OverlayEntry =
  /** A staged file: its content and attributes are here. */
  | { type: 'file'; file: StagedFile }
  /**
   * A folder made here, or one the remote holds with a pending change (its attributes, a rename
   * to here); `complete` while the remote cannot have anything in it we do not know of.
   */
  | { type: 'dir'; stat: FileStat; complete: boolean; moved?: Moved }
  | { type: 'symlink'; target: string; stat: FileStat }
  /**
   * Something the remote holds, not a folder, with a pending attribute change or a pending rename
   * to this name: its attributes are here, its content on the remote (see Moved).
   */
  | { type: 'remote'; stat: FileStat; moved?: Moved }
  /** Removed or moved away here; still on the remote until its operation is sent. `dir` for a folder moved away. */
  | { type: 'gone'; dir?: boolean };

export class Overlay {
  readonly #entries = new Map<string, OverlayEntry>();
  /** Names with an entry, by parent folder, for listings. */
  readonly #children = new Map<string, Set<string>>();

  /** Entries for folders moved here, and away, by renames not on the remote yet. */
  #movedDirs = 0;
  #goneDirs = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** True while a folder rename is pending: paths below it are read elsewhere, or missing. */
  get foldersMoving(): boolean {
    return this.#movedDirs > 0 || this.#goneDirs > 0;
  }

  get(path: string): OverlayEntry | undefined {
    return this.#entries.get(path);
  }

  set(path: string, entry: OverlayEntry): void {
    this.#count(this.#entries.get(path), -1);
    this.#count(entry, 1);
    this.#entries.set(path, entry);
    const { parent, name } = split(path);
    let names = this.#children.get(parent);
    if (names === undefined) this.#children.set(parent, (names = new Set()));
    names.add(name);
  }

  delete(path: string): void {
    const entry = this.#entries.get(path);
    if (entry === undefined) return;
    this.#count(entry, -1);
    this.#entries.delete(path);
    const { parent, name } = split(path);
    const names = this.#children.get(parent);
    names?.delete(name);
    if (names?.size === 0) this.#children.delete(parent);
  }

  /** Entries directly in folder `dir`, by name. */
  *children(dir: string): Generator<[string, OverlayEntry]> {
    const names = this.#children.get(dir);
    if (names === undefined) return;
    for (const name of names) {
      const entry = this.#entries.get(join(dir, name));
      if (entry !== undefined) yield [name, entry];
    }
  }

  /** True when folder `dir` holds an entry that is there (not removed). */
  hasPresentChild(dir: string): boolean {
    for (const [, entry] of this.children(dir)) if (entry.type !== 'gone') return true;
    return false;
  }

  /** Paths at or below `path`. */
  under(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.#entries.keys()].filter(p => p === path || p.startsWith(prefix));
  }

  /**
   * Moves every entry at or below `from` to the same place below `to` (a folder renamed), with
   * `move` (its pending rename, when it is not on the remote yet) added to what moved them.
   */
  rekey(from: string, to: string, move?: Entry): void {
    const paths = this.under(from);
    const entries = paths.map(p => this.#entries.get(p)!);
    for (const p of paths) this.delete(p);
    paths.forEach((path, i) => {
      let entry = entries[i]!;
      const now = to + path.slice(from.length);
      if (entry.type === 'file') entry.file.moved(path, now);
      if (move !== undefined && (entry.type === 'remote' || entry.type === 'dir') && entry.moved !== undefined) {
        entry = { ...entry, moved: { origin: entry.moved.origin, moves: [...entry.moved.moves, move] } };
      }
      this.set(now, entry);
    });
  }

  #count(entry: OverlayEntry | undefined, by: number): void {
    if (entry === undefined) return;
    if (entry.type === 'gone' && entry.dir === true) this.#goneDirs += by;
    else if (entry.type === 'dir' && entry.moved !== undefined) this.#movedDirs += by;
  }
}

/** Where the remote holds what `moved` shows, now: its origin moved by each of its renames that landed. */
export function whereNow(moved: Moved): string {
  let at = moved.origin;
  for (const move of moved.moves) {
    if (move.state !== 'done' || move.op.kind !== 'rename') continue;
    const { from, to } = move.op;
    if (at === from) at = to;
    else if (at.startsWith(`${from}/`)) at = to + at.slice(from.length);
  }
  return at;
}

/** Parent folder and name of an absolute remote path. */
export function split(path: string): { parent: string; name: string } {
  const slash = path.lastIndexOf('/');
  return { parent: slash <= 0 ? '/' : path.slice(0, slash), name: path.slice(slash + 1) };
}

export function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
