import type { FuseNotifier } from '../fuse/operations.ts';
import type { Logger } from '../remote/log.ts';

/**
 * Kernel cache invalidations, queued during an op and sent once it has been answered: invalidating
 * an entry while the kernel still waits for our reply on the same directory deadlocks.
 */
export class KernelNotices {
  readonly #log: Logger;
  /** Written only by `attach` (once mounted); until then nothing is queued. */
  #notifier: FuseNotifier | undefined;
  /** Appended by `inode`/`entry`, emptied only by the drain that `sendSoon` schedules. */
  readonly #queue: Array<(n: FuseNotifier) => void> = [];
  #drainScheduled = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Connects the kernel's invalidation calls (available once mounted). */
  attach(notifier: FuseNotifier): void {
    this.#notifier = notifier;
  }

  /** Queues "drop the attributes and pages of `ino`". */
  inode(ino: number): void {
    if (this.#notifier !== undefined) this.#queue.push(n => n.invalInode(ino));
  }

  /** Queues "drop the name `name` in `parent`". */
  entry(parent: number, name: string): void {
    if (this.#notifier !== undefined) this.#queue.push(n => n.invalEntry(parent, name));
  }

  /** Sends what is queued on the next turn of the event loop, after the current reply. */
  sendSoon(): void {
    if (this.#drainScheduled || this.#queue.length === 0) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      const notifier = this.#notifier;
      for (const fn of this.#queue.splice(0)) {
        try {
          if (notifier !== undefined) fn(notifier);
        } catch (error) {
          this.#log.debug('kernel notification failed', error);
        }
      }
    });
  }
}
