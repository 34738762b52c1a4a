/**
 * Long-lived `sh` processes in the container, each fed one command at a time on its stdin, for
 * the agentless Docker FileClient. A `docker exec` costs 40–60 ms on a quiet engine and far more on
 * a busy one, and that client used one per file operation; a command written to a shell that is
 * already running costs one round trip over an open exec stream and a few forks in the container.
 *
 * Arguments are never spliced into shell text: each becomes a single-quoted word (a `'` inside
 * is written `'\''`), and the operation's constant script runs in a subshell with them as its
 * positional parameters, so it keeps the exit codes and `rmount-errno:NAME` lines it has when run
 * by `sh -c SCRIPT sh ARGS...`. Its stdout and stderr reach us as they are (NUL and non-UTF-8
 * bytes included), each followed by a marker holding a random nonce made for that request alone,
 * so no output can end an answer early unless it guesses 96 random bits; no temporary file is
 * needed (the container may be read-only). busybox ash, dash and bash all run it. (Passing both
 * streams through `od` instead, so that the marker could be a character od never prints, cost
 * six forks and two execs per request: 9.4 ms against 2–3 ms on an idle machine here.)
 *
 * A shell whose stream breaks (container stopped or restarted) fails the command it was running
 * the way a broken exec does (`code` null) and one it had not read yet as an exec that could not
 * start; the next command starts a new shell. A shell exits when its stdin closes, so closing the
 * pool leaves no process behind in the container.
 */
import { randomBytes } from 'node:crypto';
import type { Session } from '../../remote/session.ts';
import type { RunResult } from './container-access.ts';

/** Shells per pool: concurrent operations are not all queued behind a slow one. */
const POOL_SIZE = 3;
/** How long a closing shell gets to finish its command before its stream is cut. */
const CLOSE_GRACE_MS = 2000;
/**
 * Longest one command may hold its shell (well past the VFS's own bound on an operation): a
 * command stuck in the container would otherwise keep its shell for good, and once every shell of
 * the pool is stuck, every later operation would queue behind them. Its shell is cut instead, and
 * the command answers as one broken off midway.
 */
const COMMAND_DEADLINE_MS = 120_000;

/** Quotes `arg` (text as UTF-8, or raw bytes) as one shell word; the result is a latin1 string of the bytes. */
export function quoteWord(arg: string | Uint8Array): string {
  const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : Buffer.from(arg);
  return `'${bytes.toString('latin1').replace(/'/g, `'\\''`)}'`;
}

/**
 * `data` as a printf format that prints exactly those bytes: printable ASCII as is, `%` and `\`
 * doubled, everything else (NUL included) as a three-digit octal escape. It starts with `%s`, to
 * be used with one empty argument, so that a leading `-` is never taken for an option.
 */
export function printfFormat(data: Uint8Array): string {
  let out = '%s';
  for (const b of data) {
    if (b === 0x25) out += '%%';
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

// One request. `+` says the shell read it; the script's stdin is /dev/null, since the shell's
// own stdin carries the next requests.
//
//   printf +; ( set -- 'ARG'...
//   SCRIPT
//   ) </dev/null; printf '%s %s\n' NONCE $?; printf '%s\n' NONCE >&2
//
// Answer: stdout `+`, the script's stdout, `NONCE STATUS\n`; stderr: the script's stderr, `NONCE\n`.

/** The bytes of the request that runs `script` with `args` as "$1"...; see the layout above. */
export function renderRequest(script: string, args: readonly (string | Uint8Array)[], nonce: string): Buffer {
  const words = args.map(quoteWord).join(' ');
  return Buffer.from(`printf +; ( set -- ${words}\n${script}\n) </dev/null; printf '%s %s\\n' ${nonce} $?; printf '%s\\n' ${nonce} >&2\n`, 'latin1');
}

/** The shell ended before it read the command: nothing ran. */
class NotRead extends Error {
  override name = 'NotRead';
}

interface Pending {
  resolve(r: RunResult): void;
  reject(error: Error): void;
  /** `NONCE ` ends stdout, `NONCE\n` stderr. */
  outEnd: Buffer;
  errEnd: Buffer;
  read: boolean;
  out?: { stdout: Buffer; code: number | null };
  err?: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** One shell and the command it runs. Protected by the pool: at most one request at a time. */
class Shell {
  readonly #session: Session;
  #out = EMPTY;
  #err = EMPTY;
  #pending: Pending | undefined;
  dead = false;
  readonly ended: Promise<void>;

  readonly #deadlineMs: number;

  constructor(session: Session, deadlineMs: number) {
    this.#session = session;
    this.#deadlineMs = deadlineMs;
    session.stdout.on('data', (b: Buffer) => { this.#out = Buffer.concat([this.#out, b]); this.#pump(); });
    session.stderr.on('data', (b: Buffer) => { this.#err = Buffer.concat([this.#err, b]); this.#pump(); });
    this.ended = new Promise(resolve => {
      const end = (): void => { this.#end(); resolve(); };
      session.stdout.once('end', end).once('close', end);
      void session.wait().then(end, end);
    });
  }

  run(script: string, args: readonly (string | Uint8Array)[]): Promise<RunResult> {
    if (this.dead) return Promise.reject(new NotRead('the shell had ended'));
    const nonce = `rmount-${randomBytes(12).toString('hex')}`;
    let timer: NodeJS.Timeout | undefined;
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending = { resolve, reject, read: false, outEnd: Buffer.from(`${nonce} `), errEnd: Buffer.from(`${nonce}\n`) };
      this.#out = EMPTY;
      this.#err = EMPTY;
      this.#session.stdin.write(renderRequest(script, args, nonce));
      timer = setTimeout(() => this.#session.close(), this.#deadlineMs);
    }).finally(() => clearTimeout(timer));
  }

  #pump(): void {
    const p = this.#pending;
    if (p === undefined) return;
    if (!p.read && this.#out.length > 0 && this.#out[0] === 0x2b) {
      p.read = true;
      this.#out = this.#out.subarray(1);
    }
    if (p.read && p.out === undefined) {
      const at = this.#out.indexOf(p.outEnd);
      const nl = at < 0 ? -1 : this.#out.indexOf(0x0a, at);
      if (nl >= 0) {
        const code = Number.parseInt(this.#out.subarray(at + p.outEnd.length, nl).toString('latin1'), 10);
        p.out = { stdout: Buffer.from(this.#out.subarray(0, at)), code: Number.isNaN(code) ? null : code };
        this.#out = this.#out.subarray(nl + 1);
      }
    }
    if (p.err === undefined) {
      const at = this.#err.indexOf(p.errEnd);
      if (at >= 0) {
        p.err = Buffer.from(this.#err.subarray(0, at));
        this.#err = this.#err.subarray(at + p.errEnd.length);
      }
    }
    if (p.out !== undefined && p.err !== undefined) {
      this.#pending = undefined;
      p.resolve({ code: p.out.code, stdout: p.out.stdout, stderr: p.err.toString('utf8') });
    }
  }

  #end(): void {
    if (this.dead) return;
    this.dead = true;
    const p = this.#pending;
    this.#pending = undefined;
    if (p === undefined) return;
    if (!p.read) return p.reject(new NotRead('the shell ended before it read the command'));
    // Broke off midway, as an exec cut off without an exit status.
    p.resolve({ code: null, stdout: p.out?.stdout ?? this.#out, stderr: (p.err ?? this.#err).toString('utf8') });
  }

  /** Ends stdin (the shell exits after its command), and cuts the stream if it does not. */
  async close(): Promise<void> {
    this.#session.stdin.end();
    const timer = setTimeout(() => this.#session.close(), CLOSE_GRACE_MS);
    await this.ended;
    clearTimeout(timer);
  }
}

/** Up to POOL_SIZE shells started on demand through `start`, each running one command at a time. */
export class ShellPool {
  readonly #start: () => Promise<Session>;
  readonly #size: number;
  readonly #idle: Shell[] = [];
  readonly #all = new Set<Shell>();
  #starting = 0;
  /** Callers waiting for a shell; `undefined` tells one that a slot is free to start one. */
  readonly #waiting: ((shell: Shell | undefined) => void)[] = [];
  #closed = false;

  readonly #deadlineMs: number;

  constructor(start: () => Promise<Session>, size = POOL_SIZE, deadlineMs = COMMAND_DEADLINE_MS) {
    this.#start = start;
    this.#size = size;
    this.#deadlineMs = deadlineMs;
  }

  /**
   * Runs `script` with `args` as its positional parameters and resolves with its exit code,
   * stdout and stderr. Rejects when no shell could run it (nothing ran); `code` null: the shell
   * ended while the script ran.
   */
  async run(script: string, args: readonly (string | Uint8Array)[]): Promise<RunResult> {
    for (let again = true; ; again = false) {
      const shell = await this.#acquire();
      try {
        return await shell.run(script, args);
      } catch (error) {
        // A shell that died idle (its stream broke unnoticed): once more on a new one.
        if (!(error instanceof NotRead && again)) throw error;
      } finally {
        this.#release(shell);
      }
    }
  }

  async #acquire(): Promise<Shell> {
    for (;;) {
      if (this.#closed) throw new Error('the shell pool is closed');
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        if (idle.dead) continue;
        return idle;
      }
      if (this.#all.size + this.#starting < this.#size) return this.#open();
      const handed = await new Promise<Shell | undefined>(resolve => this.#waiting.push(resolve));
      if (handed !== undefined) return handed;
    }
  }

  async #open(): Promise<Shell> {
    this.#starting++;
    let shell: Shell;
    try {
      shell = new Shell(await this.#start(), this.#deadlineMs);
    } catch (error) {
      this.#waiting.shift()?.(undefined);
      throw error;
    } finally {
      this.#starting--;
    }
    this.#all.add(shell);
    void shell.ended.then(() => {
      this.#all.delete(shell);
      const i = this.#idle.indexOf(shell);
      if (i >= 0) this.#idle.splice(i, 1);
      this.#waiting.shift()?.(undefined);
    });
    if (this.#closed) void shell.close();
    return shell;
  }

  #release(shell: Shell): void {
    if (shell.dead) return;
    if (this.#closed) {
      void shell.close();
      return;
    }
    const next = this.#waiting.shift();
    if (next !== undefined) next(shell);
    else this.#idle.push(shell);
  }

  /** Closes every shell (each finishes its command first) and fails the callers still waiting. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w(undefined);
    this.#idle.length = 0;
    await Promise.all([...this.#all].map(s => s.close()));
  }
}
