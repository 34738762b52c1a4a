import { Option, type Command } from 'commander';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseMountOptions, renderMountOptionsHelp } from '../../mount/mount-options.ts';
import { canonicalMountpoint } from '../../system/mountinfo.ts';
import { checkMountpoint } from '../../mount/preflight.ts';
import { runtimeDir, runtimeFiles } from '../../mount/registry.ts';
import { parseDestination } from '../../remote/destination.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { backendOptions, type ConnectFlags } from '../connect.ts';
import { DaemonMessageWriter, readReadyMessage, throttleReplay, type ReadyMessage } from '../daemon-messages.ts';
import { renderError, stableCode } from '../errors.ts';
import { streamLogger } from '../logger.ts';
import { ReplayView } from '../write-back-view.ts';

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
    .action(async (destText: string, mountpoint: string, flags: MountFlags) => {
      // Usage errors are found here, before a daemon is started.
      parseDestination(destText);
      parseMountOptions(flags.o);
      if (flags.foreground) {
        await runForeground(destText, mountpoint, flags, ctx);
        return;
      }
      ctx.exitCode = await startBackground(destText, mountpoint, flags, ctx);
    });
}

async function runForeground(destText: string, mountpoint: string, flags: MountFlags, ctx: CliContext): Promise<void> {
  const readyFd = flags.readyFd === undefined ? undefined : Number(flags.readyFd);
  const parent = readyFd === undefined ? undefined : new DaemonMessageWriter(readyFd);
  const say = (m: ReadyMessage): void => {
    parent?.send(m);
    parent?.close();
  };
  // The replay of an earlier journal is drawn by the parent, or with -f here, the log above the bar.
  const view = parent === undefined ? new ReplayView(ctx.stderr, resolve(mountpoint)) : undefined;
  const onReplayProgress = throttleReplay(p => (parent === undefined ? view?.update(p) : parent.send({ replay: p })));
  // Loaded here so that commands which never mount do not pay for the VFS and the addon.
  const { serveMount, serveUntilStopped } = await import('../../mount/serve.ts');
  let served;
  try {
    served = await serveMount(parseDestination(destText), mountpoint, {
      mount: parseMountOptions(flags.o),
      backend: backendOptions(flags),
      log: streamLogger(view === undefined ? ctx.stderr : { write: (text: string) => view.print(text) }, flags.o.some(o => o.split(',').includes('debug'))),
      logsToRuntimeFile: readyFd !== undefined,
      env: ctx.env,
      onReplayProgress,
    });
  } catch (error) {
    view?.close();
    const code = stableCode(error);
    say({ ok: false, error: renderError(error), ...(code === undefined ? {} : { code }) });
    throw error;
  }
  say({ ok: true });
  if (readyFd === undefined) ctx.stderr.write(`rmount: ${destText} mounted on ${served.mount.mountpoint}; Ctrl-C unmounts\n`);
  await serveUntilStopped(served);
}

/** Starts the daemon detached, waits for its ready message, and says how it went. */
async function startBackground(destText: string, mountpointArg: string, flags: MountFlags, ctx: CliContext): Promise<number> {
  const mountpoint = await canonicalMountpoint(mountpointArg);
  await checkMountpoint(mountpoint, parseMountOptions(flags.o).nonempty);
  const dir = await runtimeDir(ctx.env);
  const logFile = runtimeFiles(dir, mountpoint).log;
  const logFd = openSync(logFile, 'a', 0o600);
  const args = [...process.execArgv, process.argv[1]!, 'mount', '--foreground', '--ready-fd', '3', ...rebuildFlags(flags), destText, mountpoint];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'], env: ctx.env });
  closeSync(logFd);
  const spawnError = new Promise<Error>(resolveError => child.once('error', resolveError));
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
    return message.code === 'ERR_USAGE' ? 2 : 1;
  }
  const failed = await Promise.race([spawnError, Promise.resolve(undefined)]);
  if (failed !== undefined) throw failed;
  ctx.stderr.write(`rmount: the mount daemon exited before the mount answered; its log is ${logFile}\n`);
  return 1;
}

function rebuildFlags(flags: MountFlags): string[] {
  const out: string[] = [];
  for (const o of flags.o) out.push('-o', o);
  if (flags.acceptNew) out.push('--accept-new');
  if (flags.sshConfig !== undefined) out.push('--ssh-config', flags.sshConfig);
  if (flags.identity !== undefined) out.push('--identity', flags.identity);
  if (flags.knownHosts !== undefined) out.push('--known-hosts', flags.knownHosts);
  if (flags.connectTimeout !== undefined) out.push('--connect-timeout', flags.connectTimeout);
  return out;
}
