/**
 * A command running on the remote. Made by `Backend.exec`, which starts it at once.
 */
import type { Readable, Writable } from 'node:stream';

/** A pseudo-terminal request. */
export interface PtyOptions {
  cols: number;
  rows: number;
  /** TERM for the remote; default the local TERM or 'xterm-256color'. */
  term?: string;
}

/** How to run a command on the remote. */
export interface ExecOptions {
  /** Remote working folder; absolute, or `~`-relative. Default: the login folder. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Allocate a pseudo-terminal (stdout and stderr merge into `stdout`). */
  pty?: PtyOptions;
  /** Remote user, where the backend can choose one (Docker's `--user`). */
  user?: string;
  /** Aborting before the command starts rejects; after, it kills the command. */
  signal?: AbortSignal;
}

/** How a command ended: `code` when it exited, `signal` (e.g. 'SIGTERM') when a signal ended it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A running remote command. `stdout`/`stderr` must be consumed (or the remote will stall on a full
 * window); `stdin` is ended to deliver end-of-file.
 */
export interface Session {
  /** The command's standard input. `end()` delivers end-of-file. */
  readonly stdin: Writable;
  /** The command's standard output (and standard error under a pty). */
  readonly stdout: Readable;
  /** The command's standard error; empty under a pty. */
  readonly stderr: Readable;
  /** Whether a pseudo-terminal was allocated. */
  readonly pty: boolean;
  /** Tells the pty its new size; ignored without a pty. */
  resize(cols: number, rows: number): void;
  /** Sends a signal to the command (default SIGTERM). Best effort: resolves when sent. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves when the command ends and its output streams have ended. Never rejects for an exit code. */
  wait(): Promise<ExitStatus>;
  /** Tears the session down without waiting. */
  close(): void;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
  SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** Linux signal number of a signal name ('SIGTERM' or 'TERM'); 0 when unknown. */
export function signalNumber(name: string): number {
  const n = name.startsWith('SIG') ? name : `SIG${name}`;
  return SIGNAL_NUMBERS[n] ?? 0;
}

/** Normalises 'TERM' / 'SIGTERM' to 'SIGTERM'. */
export function signalName(name: string): NodeJS.Signals {
  return (name.startsWith('SIG') ? name : `SIG${name}`) as NodeJS.Signals;
}

/** The shell's exit code for a status: the code, or 128 + signal number. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  if (status.signal !== null) return 128 + (signalNumber(status.signal) || 0);
  return 255;
}
