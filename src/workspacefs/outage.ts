import { reportsLink, type FileClient } from '../remote/file-client.ts';
import type { Logger } from '../remote/log.ts';
import type { CacheWatch } from './cache-watch.ts';

/** What the kernel may keep an answer given from a cache past its lifetime for: it asks again soon. */
export const OUTAGE_TIMEOUT_MS = 1000;
/**
 * What the kernel may keep an answer for while the watch keeps the caches right: every change is
 * told to the kernel as it comes, so this only bounds how long it trusts us if the watch is lost
 * between two notices; asking again costs it a request to us, not a round trip.
 */
export const WATCHED_TIMEOUT_MS = 60_000;

/**
 * Whether the link to the remote is up, as the FileClient says (one that cannot say is always up).
 * While it is down, the caches answer past their lifetime (attributes, listings, symlink targets,
 * small-file contents) rather than have every request wait for the link, and the kernel keeps
 * what it is told for at most {@link OUTAGE_TIMEOUT_MS}. Operations that need the remote still go
 * to the client, bounded by the mount's timeout.
 */
export class Outage {
  readonly #client: FileClient;
  readonly #log: Logger;
  /** True once a cache answered past its lifetime in the current outage; reset when the link is seen up. */
  #servedStale = false;
  /** True once the remote is gone for good: nothing is answered for it from caches. */
  readonly #gone: () => boolean;
  readonly #watch: CacheWatch | undefined;

  constructor(client: FileClient, log: Logger, gone: () => boolean = () => false, watch?: CacheWatch) {
    this.#client = client;
    this.#log = log;
    this.#gone = gone;
    this.#watch = watch;
  }

  /** True while the client says its link is down. Asking may start a reconnect (see `FileClient.linkUp`). */
  get down(): boolean {
    const client = this.#client;
    const down = reportsLink(client) && !client.linkUp();
    if (!down && this.#servedStale) {
      this.#servedStale = false;
      this.#log.info('the link to the remote is back: caches answer within their lifetime again');
    }
    return down;
  }

  /**
   * True when a cache may answer past its lifetime now (the link is down); the first such answer
   * of an outage is logged.
   */
  servesStale(): boolean {
    if (!this.down || this.#gone()) return false;
    if (!this.#servedStale) {
      this.#servedStale = true;
      this.#log.warn('the link to the remote is down: answering from caches older than their lifetime');
    }
    return true;
  }

  /**
   * A cache lifetime for the kernel, in seconds: `ms`, at most {@link OUTAGE_TIMEOUT_MS} while the
   * link is down, at least {@link WATCHED_TIMEOUT_MS} while the watch keeps the caches (unless
   * caching is turned off, `ms` 0).
   */
  kernelTimeout(ms: number): number {
    if (this.down) return Math.min(ms, OUTAGE_TIMEOUT_MS) / 1000;
    return (ms > 0 && this.#watch?.live === true ? Math.max(ms, WATCHED_TIMEOUT_MS) : ms) / 1000;
  }
}
