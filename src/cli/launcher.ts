import { closeSync, openSync } from 'node:fs';
import { FdWriter } from './fd-writer.ts';

/**
 * The environment variable by which bin/rmount's shell part names the descriptor it waits on.
 * It is taken out of the environment at once, so no child (a daemon, a session) inherits it.
 */
export const LAUNCHER_ENV = 'RMOUNT_LAUNCHER_FD';

/**
 * This process's link to bin/rmount's shell part, which started it for `rmount mount`: one line
 * `log PATH` once the mount logs to PATH, one line `exit N` when the shell may return with N, and
 * the descriptor closed then. The shell returns when the descriptor closes, so a mount served in
 * this process lets the shell go once it answers. A shell that went away (Ctrl-C) ends the lines,
 * never the mount.
 */
export class LauncherLink {
  readonly #out: FdWriter;

  private constructor(fd: number) {
    this.#out = new FdWriter(fd);
  }

  /** The link named in `env` (and removed from it), or undefined when started otherwise. */
  static take(env: NodeJS.ProcessEnv): LauncherLink | undefined {
    const text = env[LAUNCHER_ENV];
    if (text === undefined) return undefined;
    delete env[LAUNCHER_ENV];
    const fd = Number(text);
    if (!Number.isSafeInteger(fd) || fd < 3) return undefined;
    // The shell returns only once every copy of the descriptor is closed, and a descriptor the
    // shell handed over is inherited by every child (a daemon started the two-process way, ssh,
    // an agent's upload). Opened again here, it is closed in children, as Node opens everything.
    try {
      const own = openSync(`/proc/self/fd/${fd}`, 'w');
      closeSync(fd);
      return new LauncherLink(own);
    } catch {
      return new LauncherLink(fd);
    }
  }

  /** Where the mount logs from now on: the shell names it if this process dies unheard. */
  log(path: string): void {
    this.#out.write(`log ${path}\n`);
  }

  /** The shell returns with `code`; nothing more is said. */
  exit(code: number): void {
    this.#out.write(`exit ${code}\n`);
    this.#out.close();
  }
}
