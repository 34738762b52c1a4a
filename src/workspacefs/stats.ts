/** A hit/miss pair. */
export interface HitMiss {
  hits: number;
  misses: number;
}

/** What `WorkspaceFilesystem.stats()` reports, as plain data for `rmount status`. */
export interface WorkspaceStats {
  /** FUSE ops answered, by op name. */
  ops: Record<string, number>;
  /** Remote calls made, by FileClient method name ("handle.read" for handle methods). */
  remoteCalls: Record<string, number>;
  /** Ops that failed, by errno name. */
  errors: Record<string, number>;
  /** Remote calls that got no answer within opTimeoutMs. */
  timeouts: number;
  /** Bytes handed to / taken from the kernel. */
  bytesRead: number;
  bytesWritten: number;
  /** Bytes moved over the FileClient (read-ahead may read more than the kernel asked for). */
  remoteBytesRead: number;
  remoteBytesWritten: number;
  cache: {
    attr: HitMiss;
    entry: HitMiss;
    negative: HitMiss;
    dir: HitMiss;
    readlink: HitMiss;
    readAhead: HitMiss;
    /** Listings read ahead: hits = used by a request, misses = read ahead. */
    prefetch: HitMiss;
    /** Small files read ahead while a tree is read: hits = opens answered from it, misses = files read ahead. */
    content: HitMiss;
  };
  /** Inodes the table holds now, and open file/dir handles. */
  inodes: number;
  /** Folder listings kept, and the entries they hold. */
  listings: number;
  listingEntries: number;
  openFiles: number;
  openDirs: number;
}

/** Mutable counters behind {@link WorkspaceStats}. */
export class Counters {
  readonly ops: Record<string, number> = {};
  readonly remoteCalls: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  timeouts = 0;
  bytesRead = 0;
  bytesWritten = 0;
  remoteBytesRead = 0;
  remoteBytesWritten = 0;
  readonly cache = {
    attr: { hits: 0, misses: 0 },
    entry: { hits: 0, misses: 0 },
    negative: { hits: 0, misses: 0 },
    dir: { hits: 0, misses: 0 },
    readlink: { hits: 0, misses: 0 },
    readAhead: { hits: 0, misses: 0 },
    prefetch: { hits: 0, misses: 0 },
    content: { hits: 0, misses: 0 },
  };

  /** Counts one occurrence of `key` in `table`. */
  static bump(table: Record<string, number>, key: string): void {
    table[key] = (table[key] ?? 0) + 1;
  }

  /** A deep copy, so callers can keep it. */
  snapshot(extra: Pick<WorkspaceStats, 'inodes' | 'openFiles' | 'openDirs' | 'listings' | 'listingEntries'>): WorkspaceStats {
    return structuredClone({
      ops: this.ops,
      remoteCalls: this.remoteCalls,
      errors: this.errors,
      timeouts: this.timeouts,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      remoteBytesRead: this.remoteBytesRead,
      remoteBytesWritten: this.remoteBytesWritten,
      cache: this.cache,
      ...extra,
    });
  }
}
