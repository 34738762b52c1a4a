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
import type { ReplayProgress } from '../mount/daemon.ts';
import { DaemonMessageWriter, throttleReplay, type ReadyMessage } from './daemon-messages.ts';
import { renderError, stableCode } from './errors.ts';
import { streamLogger } from './logger.ts';

/**
 * Who waits for a mount to answer and is told how its start goes: the replay of an earlier
 * journal as it goes, then once whether it mounted. Without one (-f) the replay is drawn on stderr
 * and the mount announced there.
 */
export interface StartReport {
  replay(p: ReplayProgress): void;
  done(m: ReadyMessage): void;
}

/** The report of a daemon started by `rmount mount`: messages on the ready fd to its parent. */
export function readyFdReport(fd: number): StartReport {
  const parent = new DaemonMessageWriter(fd);
  return {
    replay: p => parent.send({ replay: p }),
    done: m => {
      parent.send(m);
      parent.close();
    },
  };
}

/**
 * Mounts `request` here and serves it until it is stopped, telling `report` (when given) how the
 * start goes; a daemon's stdout and stderr are its log. Throws when the mount fails.
 */
export async function runMountDaemon(request: MountRequest, ctx: CliContext, report?: StartReport): Promise<void> {
  // Asked for before anything else, so that the mount's modules load while this one sets up.
  const serving = import('../mount/serve.ts');
  // Awaited below; a failure to load is reported there, not as an unhandled rejection meanwhile.
  void serving.catch(() => {});
  // The replay of an earlier journal is drawn by whoever waits, or with -f here, the log above the bar.
  const view = report === undefined ? new (await import('./write-back-view.ts')).ReplayView(ctx.stderr, resolve(request.mountpoint)) : undefined;
  const onReplayProgress = throttleReplay(p => (report === undefined ? view?.update(p) : report.replay(p)));
  let served;
  try {
    const options: ServeMountOptions = {
      mount: parseMountOptions(request.o),
      backend: backendOptions(request.connect),
      log: streamLogger(view === undefined ? ctx.stderr : { write: (text: string) => view.print(text) }, request.o.some(o => o.split(',').includes('debug'))),
      logsToRuntimeFile: report !== undefined,
      env: ctx.env,
      onReplayProgress,
    };
    const { serveMount } = await serving;
    served = await serveMount(parseDestination(request.dest), request.mountpoint, options);
  } catch (error) {
    view?.close();
    const code = stableCode(error);
    report?.done({ ok: false, error: renderError(error), ...(code === undefined ? {} : { code }) });
    throw error;
  }
  report?.done({ ok: true });
  if (report === undefined) ctx.stderr.write(`rmount: ${request.dest} mounted on ${served.mount.mountpoint}; Ctrl-C unmounts\n`);
  const { serveUntilStopped } = await serving;
  await serveUntilStopped(served);
}
