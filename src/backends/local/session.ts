import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { NotFoundError } from '../../remote/errors.ts';
import type { ExecOptions, ExitStatus, Session } from '../../remote/session.ts';
import { signalName } from '../../remote/session.ts';
import { quoteArgv } from '../../remote/shell-quote.ts';

/** A local child process as a Session. With a pty it runs under util-linux `script`. */
export class LocalSession implements Session {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pty: boolean;
  readonly #child: ChildProcess;
  readonly #exit: Promise<ExitStatus>;

  private constructor(child: ChildProcess, pty: boolean) {
    this.#child = child;
    this.pty = pty;
    this.stdin = child.stdin!;
    this.stdout = child.stdout!;
    this.stderr = child.stderr!;
    // An EPIPE on stdin after the process ended is not the caller's concern.
    this.stdin.on('error', () => {});
    this.#exit = once(child, 'close').then(([code, signal]) => ({
      code: typeof code === 'number' ? code : null,
      signal: typeof signal === 'string' ? signalName(signal) : null,
    }));
  }

  /** Starts `argv` locally; rejects with NotFoundError when the program or cwd does not exist. */
  static async start(argv: readonly string[], options: ExecOptions = {}): Promise<LocalSession> {
    if (argv.length === 0) throw new TypeError('exec: empty argv');
    const env = { ...process.env, ...options.env };
    let file = argv[0]!;
    let args = argv.slice(1);
    if (options.pty) {
      env.TERM = options.pty.term ?? process.env.TERM ?? 'xterm-256color';
      const line = `stty cols ${options.pty.cols} rows ${options.pty.rows} 2>/dev/null; exec ${quoteArgv(argv)}`;
      file = 'script';
      args = ['-q', '-e', '-f', '-c', line, '/dev/null'];
    }
    const child = spawn(file, args, { cwd: options.cwd, env, stdio: 'pipe', signal: options.signal });
    const err = await new Promise<NodeJS.ErrnoException | undefined>(resolve => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', e => resolve(e));
    });
    if (err !== undefined) {
      if (err.code === 'ENOENT') {
        throw new NotFoundError(`cannot run "${argv[0]}"${options.cwd ? ` in ${options.cwd}` : ''}: no such program or folder`, {
          cause: err, suggestion: 'check the command name and the working folder',
        });
      }
      throw err;
    }
    return new LocalSession(child, options.pty !== undefined);
  }

  resize(_cols: number, _rows: number): void {
    // `script` offers no way to resize its pty from outside; the size set at start stays.
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.#child.kill(signal);
  }

  wait(): Promise<ExitStatus> {
    return this.#exit;
  }

  close(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}
