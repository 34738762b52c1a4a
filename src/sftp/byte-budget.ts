/** FIFO budget of bytes in flight; a request larger than the whole budget waits for an empty pipe. */
export class ByteBudget {
  #used = 0;
  readonly #waiters: Array<{ n: number; resolve(): void }> = [];

  constructor(readonly max: number) {}

  /** Resolves once `n` bytes are reserved; returns undefined when they were reserved at once. */
  acquire(n: number): Promise<void> | undefined {
    const need = Math.min(n, this.max);
    if (this.#waiters.length === 0 && this.#used + need <= this.max) {
      this.#used += need;
      return undefined;
    }
    return new Promise(resolve => this.#waiters.push({ n: need, resolve }));
  }

  release(n: number): void {
    this.#used -= Math.min(n, this.max);
    while (this.#waiters.length > 0 && this.#used + this.#waiters[0]!.n <= this.max) {
      const w = this.#waiters.shift()!;
      this.#used += w.n;
      w.resolve();
    }
  }
}
