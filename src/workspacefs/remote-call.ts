import { FsError } from '../remote/fs-error.ts';
import type { Logger } from '../remote/log.ts';
import { Counters } from './stats.ts';

/**
 * The VFS's edge towards the FileClient: every remote call goes through `call`, which bounds it
 * by `timeoutMs` and converts whatever it throws into an FsError once.
 */
export class RemoteCaller {
  readonly #timeoutMs: number;
  readonly #counters: Counters;
  readonly #log: Logger;

  constructor(timeoutMs: number, counters: Counters, log: Logger) {
    this.#timeoutMs = timeoutMs;
    this.#counters = counters;
    this.#log = log;
  }

  /**
   * Runs `fn` (one remote call named `syscall`, on `path`). A call that does not settle within the
   * timeout fails with EIO (its late answer is ignored); a non-FsError failure becomes EIO with the
   * original as `cause`.
   */
  async call<T>(syscall: string, path: string | undefined, fn: () => Promise<T>): Promise<T> {
    Counters.bump(this.#counters.remoteCalls, syscall);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#counters.timeouts++;
        this.#log.warn(`${syscall} ${path ?? ''}: no answer within ${this.#timeoutMs} ms, answering EIO`);
        reject(new FsError('EIO', syscall, path, { cause: new Error(`timed out after ${this.#timeoutMs} ms`) }));
      }, this.#timeoutMs);
    });
    try {
      // race() subscribes to both, so a late rejection of fn's promise is never unhandled.
      return await Promise.race([fn(), expired]);
    } catch (error) {
      throw toFsError(error, syscall, path, this.#log);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `error` if it is an FsError, else EIO with `error` as cause (logged, since it is a bug or a transport surprise). */
export function toFsError(error: unknown, syscall: string, path: string | undefined, log: Logger): FsError {
  if (error instanceof FsError) return error;
  log.error(`${syscall} ${path ?? ''}: unexpected error, answering EIO`, error);
  return new FsError('EIO', syscall, path, { cause: error });
}
