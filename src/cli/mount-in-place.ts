/**
 * A background mount served by the process the shell started, when bin/rmount's shell part
 * started it (see LauncherLink): one Node start instead of two. Node cannot fork, so without the
 * launcher `rmount mount` starts a second Node process as the daemon and waits for it; with it,
 * this process becomes the daemon and the shell, not Node, is what returns once the mount answers.
 */
import { isatty } from 'node:tty';
import { closeSync, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { detachInPlace, loadDetachCalls } from '../system/detach.ts';
import { failedMountExitCode, prepareBackground } from './background-mount.ts';
import type { CliContext } from './context.ts';
import type { MountRequest } from './daemon-argv.ts';
import type { ReadyMessage } from './daemon-messages.ts';
import { renderError, stableCode } from './errors.ts';
import { FdWriter } from './fd-writer.ts';
import type { LauncherLink } from './launcher.ts';
import { runMountDaemon } from './mount-daemon.ts';
import { ReplayView } from './write-back-view.ts';

/**
 * Mounts `request` in the background in this process and serves it until it is stopped; the
 * launcher hears `exit 0` once the mount answers, or the exit code once it failed (why is written
 * on the terminal first). Returns undefined, having changed nothing, when this process cannot
 * become a daemon (an addon built before detach.c, or a process group leader): the caller then
 * starts one as before. Throws what `runMountDaemon` throws, after the launcher was told.
 */
export async function mountInPlace(request: MountRequest, ctx: CliContext, launcher: LauncherLink): Promise<number | undefined> {
  const calls = loadDetachCalls();
  if (calls === undefined) return undefined;
  const prepared = await prepareBackground(request, ctx);
  const terminalIsTty = isatty(2);
  const columns = (process.stderr as { columns?: number }).columns;
  const logFd = openSync(prepared.logFile, 'a', 0o600);
  let terminalFd: number;
  try {
    terminalFd = detachInPlace(calls, logFd);
  } catch {
    // No session of our own: a daemon started the other way gets one.
    return undefined;
  } finally {
    closeSync(logFd);
  }
  const terminalOut = new FdWriter(terminalFd);
  const terminal = writerOn(terminalOut, terminalIsTty, columns);
  const view = new ReplayView(terminal, prepared.request.mountpoint);
  let told = false;
  const done = (m: ReadyMessage): void => {
    if (told) return;
    told = true;
    view.close();
    if (!m.ok && m.error !== undefined) terminal.write(`${m.error}\n`);
    launcher.exit(m.ok ? 0 : failedMountExitCode(m.code));
    terminalOut.close();
  };
  const daemonCtx: CliContext = { stdout: writerOn(new FdWriter(1), false), stderr: writerOn(new FdWriter(2), false), env: ctx.env, exitCode: 0 };
  try {
    launcher.log(prepared.logFile);
    await runMountDaemon(prepared.request, daemonCtx, { replay: p => view.update(p), done });
  } catch (error) {
    // What failed before the mount could say so itself still reaches the terminal.
    const code = stableCode(error);
    done({ ok: false, error: renderError(error), ...(code === undefined ? {} : { code }) });
    throw error;
  }
  return daemonCtx.exitCode;
}

/**
 * `out` as the Writable the CLI's views take: they only write text and read isTTY and columns.
 * Synchronous, as Node's own stderr is on a terminal or a file.
 */
function writerOn(out: FdWriter, isTTY: boolean, columns?: number): Writable {
  return { isTTY, columns, write: (text: string) => out.write(text) } as unknown as Writable;
}
