import { Option, type Command } from 'commander';
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseMountOptions, renderMountOptionsHelp } from '../../mount/mount-options.ts';
import { canonicalMountpoint } from '../../system/mountinfo.ts';
import { checkMountpoint } from '../../mount/preflight.ts';
import { runtimeDir, runtimeFiles } from '../../mount/registry.ts';
import { parseDestination } from '../../remote/destination.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { backendOptions, type ConnectFlags } from '../connect.ts';
import { renderError, stableCode } from '../errors.ts';
import { streamLogger } from '../logger.ts';

interface MountFlags extends ConnectFlags {
  o: string[];
  foreground?: boolean;
  readyFd?: string;
}

/** The daemon's one message to the parent that started it, on the ready fd. */
interface ReadyMessage {
  ok: boolean;
  error?: string;
  code?: string;
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
  const say = (m: ReadyMessage): void => {
    if (readyFd === undefined) return;
    try {
      writeSync(readyFd, `${JSON.stringify(m)}\n`);
      closeSync(readyFd);
    } catch {
      // The parent went away; nothing to tell.
    }
  };
  // Loaded here so that commands which never mount do not pay for the VFS and the addon.
  const { serveMount, serveUntilStopped } = await import('../../mount/serve.ts');
  let served;
  try {
    served = await serveMount(parseDestination(destText), mountpoint, {
      mount: parseMountOptions(flags.o),
      backend: backendOptions(flags),
      log: streamLogger(ctx.stderr, flags.o.some(o => o.split(',').includes('debug'))),
      logsToRuntimeFile: readyFd !== undefined,
      env: ctx.env,
    });
  } catch (error) {
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
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  const message = await new Promise<ReadyMessage | undefined>(resolveMessage => {
    let text = '';
    ready.on('data', (b: Buffer) => { text += b.toString(); });
    ready.on('end', () => {
      try {
        resolveMessage(JSON.parse(text.split('\n')[0]!) as ReadyMessage);
      } catch {
        resolveMessage(undefined);
      }
    });
    ready.on('error', () => resolveMessage(undefined));
    void spawnError.then(() => resolveMessage(undefined));
  });
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
