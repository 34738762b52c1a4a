/**
 * A command started through the process host's `run` (native/agent/PROTOCOL.md), shaped as any
 * backend's Session, so `rmount exec` and the path stubs take it where they would take an SSH
 * exec channel: no new channel, no login shell, a round trip to start.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { ExecOptions, ExitStatus, Session } from '../remote/session.ts';
import type { HostMux } from './host-mux.ts';
import type { HostStream } from './host-stream.ts';

/** What ends a run: the exit EVENT, or 255 with "connection … lost" when the link died first (as ssh does). */
class HostRun implements Session {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pty: boolean;
  readonly #mux: HostMux;
  readonly #out: HostStream;
  readonly #err: HostStream | undefined;
  readonly #status: Promise<ExitStatus>;

  constructor(mux: HostMux, out: HostStream, err: HostStream | undefined, pty: boolean, lostMessage: string) {
    this.#mux = mux;
    this.#out = out;
    this.#err = err;
    this.pty = pty;
    this.stdin = out;
    this.stdout = out;
    // Stderr is our own stream, so that a run cut by a lost link can say so there (a TTY run
    // merges stderr into the terminal: it then only carries that note).
    const stderr = new PassThrough();
    this.stderr = stderr;
    let exit: ExitStatus | undefined;
    out.on('event', (e: { exit?: number; signal?: string }) => {
      if (typeof e.exit === 'number') exit = { code: e.exit, signal: null };
      else if (typeof e.signal === 'string') exit = { code: null, signal: `SIG${e.signal.replace(/^SIG/, '')}` as NodeJS.Signals };
    });
    const ended = (s: Readable): Promise<void> => new Promise(resolve => {
      if (s.readableEnded || s.destroyed) return resolve();
      s.once('end', resolve);
      s.once('close', resolve);
    });
    err?.pipe(stderr, { end: false });
    this.#status = Promise.all([ended(out), err === undefined ? Promise.resolve() : ended(err)]).then(() => {
      // Cut before the exit EVENT: the link (or the host) is gone, and ssh would say 255.
      if (exit === undefined) stderr.write(`${lostMessage}\n`);
      stderr.end();
      return exit ?? { code: 255, signal: null };
    });
  }

  resize(cols: number, rows: number): void {
    if (this.pty) void this.#mux.request('resize', { stream: this.#out.id, cols, rows }).catch(() => {});
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.#mux.request('kill', { stream: this.#out.id, signal: signal.replace(/^SIG/, '') }).catch(() => {});
  }

  wait(): Promise<ExitStatus> {
    return this.#status;
  }

  close(): void {
    this.#out.destroy();
    this.#err?.destroy();
  }
}

/**
 * Starts `argv` through the host. `options.env` is added to the host's environment; `cwd`
 * absolute (default the remote home). Rejects with SessionError (ERR_START_FAILED, ERR_HOST_LOST, …).
 */
export async function runOnHost(mux: HostMux, argv: readonly string[], options: ExecOptions, remote: string): Promise<Session> {
  const pty = options.pty !== undefined;
  const fields: Record<string, unknown> = {
    argv,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`) }),
    ...(pty ? { tty: { cols: options.pty!.cols, rows: options.pty!.rows, term: options.pty!.term ?? 'xterm-256color' } } : {}),
  };
  const { streams, reply } = mux.openMany<{ pid: number }>('run', fields, pty ? ['stream'] : ['stream', 'errStream']);
  const run = new HostRun(mux, streams[0]!, streams[1], pty, `connection to ${remote} lost`);
  await reply;
  return run;
}
