/**
 * One child `ssh` process as a Session: its stdio are the remote side's stdio. The channel dies
 * with the process, so the process exiting is the transport closing (the file client's `closed`
 * resolves and the ReconnectingFileClient makes a new one). Stopped by its own PID only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { RmountError } from '../../remote/errors.ts';
import type { ExitStatus, Session } from '../../remote/session.ts';
import { classifyOpensshExit, SshClientError, type OpensshExit } from './openssh-command.ts';

/** How much of ssh's stderr is kept for an error message. */
const STDERR_TAIL = 4096;
/** How long a stopped ssh gets before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** How long after exit the pipes may still deliver what ssh wrote last. */
const DRAIN_MS = 500;

/** What `OpensshSession.start` needs besides the argv. */
export interface OpensshSpawn {
  /** The client binary; `ssh` from PATH unless told otherwise. */
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Names the destination in error messages. */
  addr: string;
  host: string;
  port?: number;
  /** Hears each line ssh writes to stderr (its diagnostics, and the remote command's stderr). */
  onStderrLine?: (line: string) => void;
}

/** A Session over a child OpenSSH client (no TTY). */
export class OpensshSession implements Session {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pty = false;
  readonly #child: ChildProcess;
  readonly #spec: OpensshSpawn;
  readonly #exited: Promise<OpensshExit>;
  readonly #spawned: Promise<boolean>;
  #spawnError: Error | undefined;
  #stderrTail = '';

  private constructor(spec: OpensshSpawn) {
    this.#spec = spec;
    // No detached process group: ssh goes when rmount's process group is signalled, as it should.
    const child = spawn(spec.command, spec.args, { stdio: ['pipe', 'pipe', 'pipe'], env: spec.env });
    this.#child = child;
    this.stdin = child.stdin!;
    this.stdout = child.stdout!;
    this.stderr = child.stderr!;
    // A write after ssh died must not become an uncaught EPIPE; the reader sees the end.
    this.stdin.on('error', () => {});
    let pending = '';
    this.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL);
      if (spec.onStderrLine === undefined) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) spec.onStderrLine(line.replace(/\r$/, ''));
    });
    this.#spawned = new Promise(resolve => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    this.#exited = new Promise(resolve => {
      let status: { code: number | null; signal: string | null } | undefined;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        resolve({ code: status?.code ?? null, signal: status?.signal ?? null, stderr: this.#stderrTail });
      };
      child.once('error', error => {
        this.#spawnError = error;
        // A child that never started emits no 'exit'.
        if (child.pid === undefined) finish();
      });
      child.once('exit', (code, signal) => {
        status = { code, signal };
        timer = setTimeout(finish, DRAIN_MS);
      });
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        status ??= { code, signal };
        finish();
      });
    });
  }

  /** Starts `ssh` with `spec.args`; a missing binary shows in `failure()`, not here. */
  static start(spec: OpensshSpawn): OpensshSession {
    return new OpensshSession(spec);
  }

  /**
   * Resolves once ssh runs; rejects with SshClientError when it could not be started. Listeners
   * attached right after this resolves hear everything the child does.
   */
  async started(): Promise<void> {
    if (await this.#spawned) return;
    throw this.#startError();
  }

  /** The child's PID (undefined when it could not be started). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process has exited (or never started). */
  get done(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null || this.#spawnError !== undefined;
  }

  /** A TTY is never allocated here. */
  resize(): void {}

  /** Signals the local `ssh`, which closes the channel; OpenSSH cannot forward a signal to a command without a TTY. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.done) this.#child.kill(signal);
  }

  /** Resolves with ssh's exit status: the remote command's, or 255 when ssh itself failed. */
  async wait(): Promise<ExitStatus> {
    const exit = await this.#exited;
    return { code: exit.code, signal: exit.signal as NodeJS.Signals | null };
  }

  /** Stops ssh: SIGTERM, then SIGKILL if it lingers. Resolves once it is gone. */
  async stop(): Promise<void> {
    if (!this.done) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), KILL_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
    await this.#exited;
  }

  /** Tears the channel down without waiting. */
  close(): void {
    void this.stop();
  }

  /**
   * Why the channel could not be used, once ssh has exited (waiting up to `ms` for that): a
   * missing client, or ssh's own failure (auth, host key, network, no subsystem) as one of
   * rmount's errors. Undefined when ssh is still running or the remote command itself ended.
   */
  async failure(ms = 5000): Promise<RmountError | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([this.#exited, new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), ms); })]);
    clearTimeout(timer);
    const spec = this.#spec;
    if (this.#spawnError !== undefined) return this.#startError();
    if (exit === undefined) return undefined;
    return classifyOpensshExit(exit, { addr: spec.addr, host: spec.host, ...(spec.port === undefined ? {} : { port: spec.port }) });
  }

  #startError(): SshClientError {
    const error = this.#spawnError;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    return new SshClientError(`the OpenSSH client "${this.#spec.command}" could not be started: ${code === 'ENOENT' ? 'not found' : error?.message ?? 'unknown error'}`, {
      cause: error,
      suggestion: 'install OpenSSH\'s client (Debian and Ubuntu: apt install openssh-client), or mount with -o ssh_client=builtin',
    });
  }
}
