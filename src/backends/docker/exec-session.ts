/**
 * A command run through the Engine's exec API. The hijacked connection carries stdin one way and
 * the output the other: raw under a TTY, framed (see frame-demux.ts) without one. Ending stdin
 * half-closes the connection, which the engine passes on as end-of-file; the exit code comes from
 * exec inspect once the connection ends.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { NotFoundError, StateError, UnreachableError } from '../../remote/errors.ts';
import { signalNumber, type ExecOptions, type ExitStatus, type Session } from '../../remote/session.ts';
import { FrameDemux } from './frame-demux.ts';

/** Set in every exec'd command's environment so that `kill` can find its processes in the container. */
export const EXEC_ID_VAR = 'RMOUNT_EXEC_ID';

/** Signals processes inside the container: `(signalName, marker)`, e.g. ('TERM', 'RMOUNT_EXEC_ID=x'). */
export type MarkedKill = (name: string, marker: string) => Promise<void>;

/** How long a signalled command gets before the connection is cut. */
const KILL_GRACE_MS = 2000;

/** A Session over one Docker exec. */
export class DockerExecSession implements Session {
  readonly stdin: Writable;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly #exec: Dockerode.Exec;
  readonly #socket: Duplex;
  readonly #done: Promise<ExitStatus>;
  readonly #marker: string;
  readonly #markedKill: MarkedKill | undefined;
  #ended = false;
  #sent: NodeJS.Signals | undefined;

  private constructor(exec: Dockerode.Exec, socket: Duplex, readonly pty: boolean, marker: string, markedKill: MarkedKill | undefined) {
    this.#exec = exec;
    this.#socket = socket;
    this.#marker = marker;
    this.#markedKill = markedKill;
    socket.on('error', () => {});
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (socket.destroyed || socket.writableEnded) return cb();
        socket.write(chunk, error => cb(error && !this.#ended ? error : null));
      },
      // A half-close: the engine closes the process's stdin, output keeps flowing.
      final: cb => { if (!socket.destroyed) socket.end(); cb(); },
    });
    this.stdin.on('error', () => {});
    if (pty) {
      socket.pipe(this.stdout);
      this.stderr.end();
    } else {
      socket.pipe(new FrameDemux(this.stdout, this.stderr));
    }
    const streamsEnded = Promise.all([
      new Promise<void>(resolve => this.stdout.once('end', resolve).once('close', resolve)),
      new Promise<void>(resolve => this.stderr.once('end', resolve).once('close', resolve)),
    ]);
    const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
    this.#done = closed.then(async () => {
      this.#ended = true;
      if (!this.stdout.writableEnded) this.stdout.end();
      if (!this.stderr.writableEnded) this.stderr.end();
      const status = await this.#exitStatus();
      await Promise.race([streamsEnded, sleep(1000)]);
      return status;
    });
  }

  /** Creates and starts an exec of `argv` in `container`. */
  static async start(container: Dockerode.Container, argv: readonly string[], options: ExecOptions & { markedKill?: MarkedKill } = {}): Promise<DockerExecSession> {
    if (argv.length === 0) throw new TypeError('exec: empty argv');
    const marker = `${EXEC_ID_VAR}=${randomBytes(9).toString('base64url')}`;
    const env = [marker, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];
    if (options.pty) env.push(`TERM=${options.pty.term ?? process.env.TERM ?? 'xterm-256color'}`);
    const create: Dockerode.ExecCreateOptions = {
      Cmd: [...argv], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: options.pty !== undefined, Env: env,
    };
    if (options.cwd !== undefined) create.WorkingDir = options.cwd;
    if (options.user !== undefined) create.User = options.user;
    let exec: Dockerode.Exec;
    let socket: Duplex;
    try {
      exec = await container.exec(create);
      socket = await exec.start({ hijack: true, stdin: true, Tty: options.pty !== undefined }) as unknown as Duplex;
    } catch (error) {
      throw execError(error, container.id, argv[0]!);
    }
    const session = new DockerExecSession(exec, socket, options.pty !== undefined, marker, options.markedKill);
    if (options.pty) session.resize(options.pty.cols, options.pty.rows);
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => { void session.kill('SIGTERM'); };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        void session.#done.finally(() => signal.removeEventListener('abort', onAbort));
      }
    }
    return session;
  }

  // The exit code appears in exec inspect a moment after the stream ends.
  async #exitStatus(): Promise<ExitStatus> {
    for (let i = 0; i < 50; i++) {
      let info: Dockerode.ExecInspectInfo;
      try {
        info = await this.#exec.inspect();
      } catch {
        return { code: null, signal: null }; // the container is gone
      }
      if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
        const code = info.ExitCode;
        const sent = this.#sent;
        if (sent !== undefined && code === 128 + signalNumber(sent)) return { code: null, signal: sent };
        return { code, signal: null };
      }
      await sleep(i < 10 ? 10 : 50);
    }
    return { code: null, signal: null };
  }

  /** Tells the TTY its new size; ignored without one. */
  resize(cols: number, rows: number): void {
    if (!this.pty || this.#ended) return;
    this.#exec.resize({ h: rows, w: cols }).catch(() => {});
  }

  /**
   * Signals the command: its processes are found inside the container by the mark in their
   * environment and signalled there with `kill`; if it is still running after a grace period, or
   * the container has no shell to run `kill` in, the connection is cut.
   */
  async kill(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.#ended) return;
    this.#sent = sig;
    const name = sig.replace(/^SIG/, '');
    if (this.#markedKill && /^[A-Z0-9]+$/.test(name)) {
      await this.#markedKill(name, this.#marker).catch(() => {});
      const ended = await Promise.race([this.#done.then(() => true), sleep(KILL_GRACE_MS).then(() => false)]);
      if (ended) return;
    }
    this.#socket.destroy();
  }

  /** Resolves with the exit code (or the signal rmount sent, when the code says it ended the command). */
  wait(): Promise<ExitStatus> {
    return this.#done;
  }

  /** Cuts the connection without waiting. */
  close(): void {
    if (!this.#ended) this.#socket.destroy();
  }
}

/** Engine errors of exec create/start as rmount errors. */
export function execError(error: unknown, container: string, program: string): Error {
  const e = error as { statusCode?: number; message?: string; code?: string };
  const msg = e.message ?? String(error);
  if (e.statusCode === 404) return new NotFoundError(`container ${container.slice(0, 12)} no longer exists`, { cause: error, suggestion: 'start it again, then retry' });
  if (e.statusCode === 409 || /is not running|is paused|restarting/i.test(msg)) {
    return new StateError(`container ${container.slice(0, 12)} is not running: ${msg.trim()}`, { cause: error, suggestion: 'start it (docker start) and retry' });
  }
  if (/executable file not found|no such file or directory/i.test(msg)) {
    return new NotFoundError(`cannot run "${program}" in container ${container.slice(0, 12)}: not found`, { cause: error, suggestion: 'check the command name; distroless images have no shell or tools' });
  }
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'ECONNRESET' || e.code === 'EPIPE') {
    return new UnreachableError(`the Docker engine is unreachable: ${msg}`, { cause: error, suggestion: 'check that dockerd runs and DOCKER_HOST' });
  }
  return error instanceof Error ? error : new Error(msg);
}
