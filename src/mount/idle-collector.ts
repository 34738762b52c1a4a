/**
 * Gives memory back once a burst of work is over. V8 collects lazily while memory is plentiful and
 * keeps its heap committed at the peak: after a walk of a big tree, and again after the kernel
 * forgets what it looked up, a daemon mounted for a week would sit at hundreds of MB that hold
 * mostly garbage. So when the mount has gone quiet after work that left garbage behind, one full
 * collection runs, one that also compacts, so that the pages it empties go back to the system.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** How often the collector looks; a collection waits for one whole quiet period. */
export const IDLE_CHECK_MS = 5_000;
/** Requests within one period that still count as quiet (an editor polling a few files). */
export const QUIET_OPS = 100;
/** Committed heap grown past what the last collection left that makes one worth it. */
export const HEAP_GROWTH_BYTES = 64 * 1024 * 1024;
/** Requests since the last collection that make one worth it (their garbage fits in the heap as it is). */
export const BUSY_OPS = 50_000;
/** Inodes let go since the last collection that make one worth it (the kernel forgot them). */
export const FREED_INODES = 10_000;

/** What the collector reads each period: the mount's requests so far and inodes held, and V8's heap. */
export interface IdleProbe {
  /** FUSE requests answered since the mount started (only differences are used), and the inodes held now. */
  work(): { ops: number; inodes: number };
  committedHeapBytes(): number;
}

export interface IdleCollectorOptions {
  probe: IdleProbe;
  /** One full, compacting collection (see `compactingCollection`). */
  collect: () => void;
  /** Told how long each collection took and what it gave back. */
  onCollected?: (report: { ms: number; freedBytes: number }) => void;
}

/** Decides, once a period, whether the mount is quiet after work worth a collection; `tick` is the decision. */
export class IdleCollector {
  readonly #opts: IdleCollectorOptions;
  #timer: NodeJS.Timeout | undefined;
  /** What the last collection (or the start) left: the baseline every "worth it" is measured from. */
  #after: { ops: number; inodes: number; committed: number };
  /** Requests at the previous period, to tell a quiet one. */
  #lastOps: number;

  constructor(opts: IdleCollectorOptions) {
    this.#opts = opts;
    this.#after = this.#read();
    this.#lastOps = this.#after.ops;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), IDLE_CHECK_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One period's decision; true when it collected. */
  tick(): boolean {
    const now = this.#read();
    const quiet = now.ops - this.#lastOps <= QUIET_OPS;
    this.#lastOps = now.ops;
    if (!quiet || !this.#worthIt(now)) return false;
    const started = performance.now();
    this.#opts.collect();
    const after = this.#read();
    this.#opts.onCollected?.({ ms: performance.now() - started, freedBytes: now.committed - after.committed });
    this.#after = after;
    return true;
  }

  #worthIt(now: { ops: number; inodes: number; committed: number }): boolean {
    const last = this.#after;
    return now.committed - last.committed >= HEAP_GROWTH_BYTES
      || now.ops - last.ops >= BUSY_OPS
      || last.inodes - now.inodes >= FREED_INODES;
  }

  #read(): { ops: number; inodes: number; committed: number } {
    const p = this.#opts.probe;
    return { ...p.work(), committed: p.committedHeapBytes() };
  }
}

/** V8's committed heap: what the collector tries to bring down. */
export function committedHeapBytes(): number {
  return v8.getHeapStatistics().total_heap_size;
}

let collectGarbage: (() => void) | undefined | null;

/**
 * A full collection that compacts, or undefined where this Node cannot run one on request. Node
 * offers no such call without `--expose-gc`; the flag set at run time exposes `gc` to contexts
 * made afterwards, and compaction is asked for around the one call only, so that collections
 * V8 starts itself stay as they were.
 */
export function compactingCollection(): (() => void) | undefined {
  if (collectGarbage === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
      collectGarbage = typeof gc === 'function' ? () => {
        v8.setFlagsFromString('--compact-on-every-full-gc');
        try {
          (gc as () => void)();
        } finally {
          v8.setFlagsFromString('--no-compact-on-every-full-gc');
        }
      } : null;
    } catch {
      collectGarbage = null;
    }
  }
  return collectGarbage ?? undefined;
}
