/** Promises that settle when a background engine has nothing queued or running (tests wait on it). */
export class IdleSignal {
  #waiters: Array<() => void> = [];

  /** Resolves at once when `busy()` is false now, else at the first `check()` that finds it false. */
  wait(busy: boolean): Promise<void> {
    if (!busy) return Promise.resolve();
    return new Promise(resolve => this.#waiters.push(resolve));
  }

  /** Called after every change of the engine's state. */
  check(busy: boolean): void {
    if (busy || this.#waiters.length === 0) return;
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
