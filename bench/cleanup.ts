/**
 * The cleanup stack of a bench run: everything it starts (mounts, daemons, folders) is undone
 * newest first, once, whether the run ends normally, fails, or is stopped by SIGINT/SIGTERM/SIGHUP
 * (then the process exits 130 after cleaning up).
 */
export class BenchCleanup {
  readonly #entries: { name: string; fn: () => Promise<void> | void }[] = [];
  #running: Promise<void> | undefined;
  #interrupted = false;

  /** `onInterrupt` runs first when a signal arrives (to kill workload children holding mounts busy). */
  constructor(onInterrupt?: () => void) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (this.#interrupted) return;
        this.#interrupted = true;
        process.stderr.write(`\n${signal}: stopping everything this bench started…\n`);
        onInterrupt?.();
        void this.runAll().then(() => process.exit(130));
      });
    }
  }

  /** True once a signal asked the run to stop; loops check it to stop early. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** Registers `fn`; the returned function unregisters it (the thing was undone already). */
  add(name: string, fn: () => Promise<void> | void): () => void {
    const entry = { name, fn };
    this.#entries.push(entry);
    return () => {
      const i = this.#entries.indexOf(entry);
      if (i >= 0) this.#entries.splice(i, 1);
    };
  }

  /** Runs every cleanup, newest first; a failing one is reported and the rest still run. */
  runAll(): Promise<void> {
    this.#running ??= (async () => {
      while (this.#entries.length > 0) {
        const { name, fn } = this.#entries.pop()!;
        try {
          await fn();
        } catch (error) {
          process.stderr.write(`cleanup (${name}) failed: ${(error as Error).message}\n`);
        }
      }
    })();
    return this.#running;
  }
}
