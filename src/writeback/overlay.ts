/**
 * What the namespace looks like with the journal's changes applied: the names made, removed or
 * moved here and not yet on the remote. Lookups, stats and listings consult it before the remote.
 */
import type { FileStat } from '../remote/file-client.ts';
import type { Entry } from './op-queue.ts';
import type { StagedFile } from './staged-file.ts';

export type OverlayEntry =
  /** A staged file: its content and attributes are here. */
  | { type: 'file'; file: StagedFile }
  /** A folder made here; `complete` while the remote cannot have anything in it we do not know of. */
  | { type: 'dir'; stat: FileStat; complete: boolean }
  | { type: 'symlink'; target: string; stat: FileStat }
  /**
   * Something the remote holds, not a folder, with a pending attribute change or a pending rename
   * to this name: its attributes are here, its content on the remote, at `origin` or, once some
   * of `moves` (the pending renames that brought it here, in order) landed, at the last one's target.
   */
  | { type: 'remote'; stat: FileStat; origin: string; moves: readonly Entry[] }
  /** Removed or moved away here; still on the remote until its operation is sent. */
  | { type: 'gone' };

export class Overlay {
  readonly #entries = new Map<string, OverlayEntry>();
  /** Names with an entry, by parent folder, for listings. */
  readonly #children = new Map<string, Set<string>>();

  get size(): number {
    return this.#entries.size;
  }

  get(path: string): OverlayEntry | undefined {
    return this.#entries.get(path);
  }

  set(path: string, entry: OverlayEntry): void {
    this.#entries.set(path, entry);
    const { parent, name } = split(path);
    let names = this.#children.get(parent);
    if (names === undefined) this.#children.set(parent, (names = new Set()));
    names.add(name);
  }

  delete(path: string): void {
    if (!this.#entries.delete(path)) return;
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

  /** Moves every entry at or below `from` to the same place below `to` (a folder renamed on the remote). */
  rekey(from: string, to: string, onFile: (file: StagedFile, path: string, was: string) => void): void {
    for (const path of this.under(from)) {
      const entry = this.#entries.get(path)!;
      this.delete(path);
      const moved = to + path.slice(from.length);
      this.set(moved, entry);
      if (entry.type === 'file') onFile(entry.file, moved, path);
    }
  }
}

/** Where the remote holds what a 'remote' entry shows, now. */
export function whereNow(entry: Extract<OverlayEntry, { type: 'remote' }>): string {
  for (let i = entry.moves.length - 1; i >= 0; i--) {
    const move = entry.moves[i]!;
    if (move.state === 'done' && move.op.kind === 'rename') return move.op.to;
  }
  return entry.origin;
}

/** Parent folder and name of an absolute remote path. */
export function split(path: string): { parent: string; name: string } {
  const slash = path.lastIndexOf('/');
  return { parent: slash <= 0 ? '/' : path.slice(0, slash), name: path.slice(slash + 1) };
}

export function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
