import type { CliContext } from './context.ts';
import { parseDaemonArgv, type MountRequest } from './daemon-argv.ts';

const ctx: CliContext = { stdout: process.stdout, stderr: process.stderr, env: process.env, exitCode: 0 };
const argv = process.argv.slice(2);
const daemon = parseDaemonArgv(argv);
const code = daemon === undefined ? await (await import('./main.ts')).main(argv, ctx) : await runDaemon(daemon.request, daemon.readyFd);
// Let pending stdout writes reach a pipe before leaving.
process.stdout.write('', () => process.exit(code));

/** A daemon started by `rmount mount`: straight to the mount, without the command-line parser. */
async function runDaemon(request: MountRequest, readyFd: number): Promise<number> {
  const [{ runMountDaemon }, { exitCodeForError, renderError }] = await Promise.all([import('./mount-daemon.ts'), import('./errors.ts')]);
  try {
    await runMountDaemon(request, ctx, readyFd);
    return ctx.exitCode;
  } catch (error) {
    // As main() does for a failed command: the line goes to the daemon's log.
    ctx.stderr.write(`${renderError(error)}\n`);
    return exitCodeForError(error);
  }
}
