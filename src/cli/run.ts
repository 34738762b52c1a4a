import type { CliContext } from './context.ts';
import { parseDaemonArgv, type MountRequest } from './daemon-argv.ts';
import { LauncherLink } from './launcher.ts';

const launcher = LauncherLink.take(process.env);
const ctx: CliContext = { stdout: process.stdout, stderr: process.stderr, env: process.env, exitCode: 0, ...(launcher === undefined ? {} : { launcher }) };
const argv = process.argv.slice(2);
const daemon = parseDaemonArgv(argv);
const code = daemon === undefined ? await (await import('./main.ts')).main(argv, ctx) : await runDaemon(daemon.request, daemon.readyFd);
// Let pending stdout writes reach a pipe before leaving; the launcher returns with the same code.
process.stdout.write('', () => {
  launcher?.exit(code);
  process.exit(code);
});

/** A daemon started by `rmount mount`: straight to the mount, without the command-line parser. */
async function runDaemon(request: MountRequest, readyFd: number): Promise<number> {
  const [{ runMountDaemon, readyFdReport }, { exitCodeForError, renderError }] = await Promise.all([import('./mount-daemon.ts'), import('./errors.ts')]);
  try {
    await runMountDaemon(request, ctx, readyFdReport(readyFd));
    return ctx.exitCode;
  } catch (error) {
    // As main() does for a failed command: the line goes to the daemon's log.
    ctx.stderr.write(`${renderError(error)}\n`);
    return exitCodeForError(error);
  }
}
