import { Option, type Command } from 'commander';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { parseMountOptions, renderMountOptionsHelp } from '../../mount/mount-options.ts';
import { parseDestination } from '../../remote/destination.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import type { ConnectFlags } from '../connect.ts';
import { renderDaemonArgv, type MountRequest } from '../daemon-argv.ts';

interface MountFlags extends ConnectFlags {
  o: string[];
  foreground?: boolean;
  readyFd?: string;
}

/** `rmount mount <dest> <mountpoint>`: mounts in the background (or with -f in the foreground). */
export function registerMount(program: Command, ctx: CliContext): void {
  addConnectOptions(program.command('mount')
    .description('mount the remote folder on a local folder; returns once the mount answers')
    .argument('<dest>', 'destination')
    .argument('<mountpoint>', 'an empty local folder')
    .option('-o <options>', 'mount options, comma-separated (listed below)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-f, --foreground', 'stay in the foreground; Ctrl-C unmounts')
    .addOption(new Option('--ready-fd <fd>', 'internal: where the daemon reports readiness').hideHelp())
    .addHelpText('after', `\nMount options (-o):\n${renderMountOptionsHelp()}`))
    .action(async (dest: string, mountpoint: string, flags: MountFlags) => {
      // Usage errors are found here, before a daemon is started.
      parseDestination(dest);
      parseMountOptions(flags.o);
      const request: MountRequest = { dest, mountpoint, o: flags.o, connect: connectFlags(flags) };
      if (flags.foreground) {
        const { runMountDaemon, readyFdReport } = await import('../mount-daemon.ts');
        await runMountDaemon(request, ctx, flags.readyFd === undefined ? undefined : readyFdReport(Number(flags.readyFd)));
        return;
      }
      if (ctx.launcher !== undefined) {
        const { mountInPlace } = await import('../mount-in-place.ts');
        const code = await mountInPlace(request, ctx, ctx.launcher);
        if (code !== undefined) {
          ctx.exitCode = code;
          return;
        }
      }
      ctx.exitCode = await startBackground(request, ctx);
    });
}

function connectFlags(flags: MountFlags): ConnectFlags {
  const out: ConnectFlags = {};
  if (flags.acceptNew) out.acceptNew = true;
  if (flags.sshConfig !== undefined) out.sshConfig = flags.sshConfig;
  if (flags.identity !== undefined) out.identity = flags.identity;
  if (flags.knownHosts !== undefined) out.knownHosts = flags.knownHosts;
  if (flags.connectTimeout !== undefined) out.connectTimeout = flags.connectTimeout;
  return out;
}

/**
 * Starts the daemon detached, waits for its ready message, and says how it went. Only what the
 * spawn needs is loaded before it; the rest loads while the daemon starts.
 */
async function startBackground(request: MountRequest, ctx: CliContext): Promise<number> {
  const [{ spawn }, { closeSync, openSync }, { prepareBackground, failedMountExitCode }] = await Promise.all([
    import('node:child_process'), import('node:fs'), import('../background-mount.ts'),
  ]);
  const { request: canonical, logFile } = await prepareBackground(request, ctx);
  const { mountpoint } = canonical;
  const logFd = openSync(logFile, 'a', 0o600);
  const args = [...process.execArgv, process.argv[1]!, ...renderDaemonArgv(canonical, 3)];
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'], env: ctx.env });
  } finally {
    closeSync(logFd);
  }
  const spawnError = new Promise<Error>(resolveError => child.once('error', resolveError));
  // Loaded while the daemon starts.
  const [{ readReadyMessage }, { ReplayView }] = await Promise.all([import('../daemon-messages.ts'), import('../write-back-view.ts')]);
  const view = new ReplayView(ctx.stderr, mountpoint);
  const message = await Promise.race([
    readReadyMessage(child.stdio[3] as Readable, p => view.update(p)),
    spawnError.then(() => undefined),
  ]);
  view.close();
  child.unref();
  if (message?.ok) return 0;
  if (message?.error !== undefined) {
    ctx.stderr.write(`${message.error}\n`);
    return failedMountExitCode(message.code);
  }
  const failed = await Promise.race([spawnError, Promise.resolve(undefined)]);
  if (failed !== undefined) throw failed;
  ctx.stderr.write(`rmount: the mount daemon exited before the mount answered; its log is ${logFile}\n`);
  return 1;
}
