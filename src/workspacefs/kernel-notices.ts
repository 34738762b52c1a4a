import type { FuseNotifier } from '../fuse/operations.ts';
import type { Logger } from '../remote/log.ts';

/** Longest an op waits for a notice it sends itself ({@link KernelNotices.inodeNow}). */
const NOTICE_WAIT_MS = 2000;

/**
 * Kernel cache invalidations, queued during an op and sent once it has been answered: invalidating
 * an entry while the kernel still waits for our reply on the same directory deadlocks.
 */
export class KernelNotices {
  readonly #log: Logger;
  /** Written only by `attach` (once mounted); until then nothing is queued. */
  #notifier: FuseNotifier | undefined;
  /** Appended by `inode`/`attributes`/`entry`, emptied by `flush` and by the drain `sendSoon` schedules. */
  readonly #queue: Array<(n: FuseNotifier) => void | Promise<void>> = [];
  /**
   * What is in `#queue`, by notice: emptied with it. A notice already queued is not queued again
   * (a remote build making thousands of names in one folder queues that folder's notice once):
   * every notice only drops what the kernel keeps, and all that are queued go out together after
   * the caches took every change that queued them, so one copy drops what the repeats would.
   */
  readonly #queued = new Set<string>();
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
    this.#enqueue(`i${ino}`, n => n.invalInode(ino));
  }

  /** Queues "drop the attributes of `ino`" and keeps its pages (a negative offset says so to FUSE). */
  attributes(ino: number): void {
    this.#enqueue(`a${ino}`, n => n.invalInode(ino, -1, 0));
  }

  /**
   * Drops the attributes and pages of `ino` now, resolving once the kernel has them dropped (or
   * after a bound: a notice stuck in the kernel must not hold up the op that waits for it). Only
   * for an inode no request of the kernel waits on, e.g. during open.
   */
  async inodeNow(ino: number): Promise<void> {
    const notifier = this.#notifier;
    if (notifier === undefined) return;
    await this.#within([this.#send(notifier, n => n.invalInode(ino))]);
  }

  /** Queues "drop the name `name` in `parent`". */
  entry(parent: number, name: string): void {
    this.#enqueue(`e${parent}/${name}`, n => n.invalEntry(parent, name));
  }

  /**
   * Sends what is queued now and resolves once the kernel has done it (within the same bound as
   * {@link inodeNow}). Only where no request of the kernel waits on us for these inodes.
   */
  async flush(): Promise<void> {
    const notifier = this.#notifier;
    if (notifier === undefined || this.#queue.length === 0) return;
    await this.#within(this.#take().map(fn => this.#send(notifier, fn)));
  }

  /** Sends what is queued on the next turn of the event loop, after the current reply. */
  sendSoon(): void {
    if (this.#drainScheduled || this.#queue.length === 0) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      const notifier = this.#notifier;
      const queued = this.#take();
      if (notifier !== undefined) for (const fn of queued) void this.#send(notifier, fn);
    });
  }

  #enqueue(key: string, fn: (n: FuseNotifier) => void | Promise<void>): void {
    if (this.#notifier === undefined || this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(fn);
  }

  /** Everything queued, leaving the queue empty. */
  #take(): Array<(n: FuseNotifier) => void | Promise<void>> {
    this.#queued.clear();
    return this.#queue.splice(0);
  }

  /** Sends one notice; resolves once the kernel has done it, never rejects (a failure is logged). */
  async #send(notifier: FuseNotifier, fn: (n: FuseNotifier) => void | Promise<void>): Promise<void> {
    try {
      await fn(notifier);
    } catch (error) {
      this.#log.debug('kernel notification failed', error);
    }
  }

  /** Resolves once every one of `sent` has, or after the bound: a notice stuck in the kernel must not hold up who waits. */
  async #within(sent: Promise<void>[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(sent), new Promise<void>(resolve => { timer = setTimeout(resolve, NOTICE_WAIT_MS); })]);
    clearTimeout(timer);
  }
}
