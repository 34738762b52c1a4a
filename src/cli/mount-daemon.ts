/**
 * The mount served by this process: the daemon that `rmount mount` starts, or `rmount mount -f`.
 * It reaches the CLI's flags already parsed (see daemon-argv.ts), so a daemon needs no commander
 * and none of the other commands.
 */
import { resolve } from 'node:path';
import type { ServeMountOptions } from '../mount/serve.ts';
import { parseMountOptions } from '../mount/mount-options.ts';
import { parseDestination } from '../remote/destination.ts';
import { backendOptions } from './connect.ts';
import type { CliContext } from './context.ts';
import type { MountRequest } from './daemon-argv.ts';
import { DaemonMessageWriter, throttleReplay, type ReadyMessage } from './daemon-messages.ts';
import { renderError, stableCode } from './errors.ts';
import { streamLogger } from './logger.ts';

/**
 * Mounts `request` here and serves it until it is stopped. With `readyFd` (a daemon) the parent
 * waiting on that fd is told how the replay goes and when the mount answers; without it (-f) the
 * replay is drawn on stderr and the mount announced there. Throws when the mount fails.
 */
export async function runMountDaemon(request: MountRequest, ctx: CliContext, readyFd?: number): Promise<void> {
  // Asked for before anything else, so that the mount's modules load while this one sets up.
  const serving = import('../mount/serve.ts');
  // Awaited below; a failure to load is reported there, not as an unhandled rejection meanwhile.
  void serving.catch(() => {});
  const parent = readyFd === undefined ? undefined : new DaemonMessageWriter(readyFd);
  const say = (m: ReadyMessage): void => {
    parent?.send(m);
    parent?.close();
  };
  // The replay of an earlier journal is drawn by the parent, or with -f here, the log above the bar.
  const view = parent === undefined ? new (await import('./write-back-view.ts')).ReplayView(ctx.stderr, resolve(request.mountpoint)) : undefined;
  const onReplayProgress = throttleReplay(p => (parent === undefined ? view?.update(p) : parent.send({ replay: p })));
  let served;
  try {
    const options: ServeMountOptions = {
      mount: parseMountOptions(request.o),
      backend: backendOptions(request.connect),
      log: streamLogger(view === undefined ? ctx.stderr : { write: (text: string) => view.print(text) }, request.o.some(o => o.split(',').includes('debug'))),
      logsToRuntimeFile: readyFd !== undefined,
      env: ctx.env,
      onReplayProgress,
    };
    const { serveMount } = await serving;
    served = await serveMount(parseDestination(request.dest), request.mountpoint, options);
  } catch (error) {
    view?.close();
    const code = stableCode(error);
    say({ ok: false, error: renderError(error), ...(code === undefined ? {} : { code }) });
    throw error;
  }
  say({ ok: true });
  if (readyFd === undefined) ctx.stderr.write(`rmount: ${request.dest} mounted on ${served.mount.mountpoint}; Ctrl-C unmounts\n`);
  const { serveUntilStopped } = await serving;
  await serveUntilStopped(served);
}
