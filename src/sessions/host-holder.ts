
/**
 * One connection to a process host, made on first use and made again on the next use after it
 * died (the sessions live on in the host; only the connection is new).
 */
export class HostHolder<T extends { readonly closed: Promise<void>; close(): void }> {
  readonly #connect: () => Promise<T>;
  /** Cleared when the connection dies or could not be made, so the next `get` tries again. */
  #current: Promise<T> | undefined;
  #closed = false;
  /** The connection `#current` resolved with, while it is alive. */
  #ready: T | undefined;

  constructor(connect: () => Promise<T>) {
    this.#connect = connect;
  }

  get(): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the session host connection is closed'));
    if (this.#current !== undefined) return this.#current;
    const attempt: Promise<T> = this.#connect().then(host => {
      this.#ready = host;
      void host.closed.then(() => {
        if (this.#current === attempt) this.#current = undefined;
        if (this.#ready === host) this.#ready = undefined;
      });
      return host;
    }, (error: unknown) => {
      if (this.#current === attempt) this.#current = undefined;
      throw error;
    });
    this.#current = attempt;
    return attempt;
  }

  /** The connection when one is made and alive; never waits, never connects. */
  current(): T | undefined {
    return this.#ready;
  }

  /** Closes the connection (sessions keep running on the remote). */
  close(): void {
    this.#closed = true;
    void this.#current?.then(h => h.close(), () => {});
    this.#current = undefined;
    this.#ready = undefined;
  }
}
