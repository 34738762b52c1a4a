/**
 * A remote command on one ssh2 exec channel. The channel is a duplex stream: its writable side is
 * the command's stdin, its readable side the stdout, `channel.stderr` the stderr.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { signalName, type ExitStatus, type Session } from '../../remote/session.ts';

/** Signals the SSH "signal" channel request can carry (RFC 4254 §6.10, as ssh2 accepts them). */
const SSH_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/** How long a signalled command gets to end before the next way of stopping it is tried. */
const KILL_GRACE_MS = 400;

/** Sends signal `name` ('TERM') to a session's processes without its channel; best effort. */
export type FallbackKill = (name: string) => Promise<void>;

/** How a session learns that its channel died with the whole connection. */
export interface LinkWatch {
  /** True once the connection the channel rode on is gone (asked when the channel closes). */
  lost(): boolean;
  /** The remote as the message names it ("user@host:port"). */
  addr: string;
}

/** A Session over an ssh2 exec channel. */
export class SshSession implements Session {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pty: boolean;
  readonly #channel: ClientChannel;
  readonly #done: Promise<ExitStatus>;
  readonly #fallbackKill: FallbackKill | undefined;
  #closed = false;

  /**
   * Wraps an exec channel that was just opened (before any of its events fired). `fallbackKill`
   * signals the command some other way when the server ignores the channel's signal request.
   */
  constructor(channel: ClientChannel, pty: boolean, options: { signal?: AbortSignal; fallbackKill?: FallbackKill; link?: LinkWatch } = {}) {
    const { signal, link } = options;
    this.#channel = channel;
    this.#fallbackKill = options.fallbackKill;
    this.pty = pty;
    this.stdin = channel;
    this.stdout = channel;
    // Our own stderr, so a line can follow the remote's output when the connection dies.
    const stderr = new PassThrough();
    channel.stderr.pipe(stderr, { end: false });
    const stderrEnded = new Promise<void>(resolve => {
      if (channel.stderr.readableEnded) resolve();
      else channel.stderr.once('end', resolve).once('close', resolve);
    });
    this.stderr = stderr;
    let status: ExitStatus | undefined;
    // 'exit' carries either a code or a signal name ('TERM'); it is missing when the channel
    // closes without exit-status, which is what a dropped connection looks like.
    channel.once('exit', (code: number | null, sig?: string) => {
      status = typeof code === 'number' ? { code, signal: null } : { code: null, signal: sig ? signalName(sig) : null };
    });
    this.#done = new Promise(resolve => channel.once('close', () => {
      this.#closed = true;
      // ssh2 ends stderr when the channel closes; a consumer that stopped reading must not hold
      // wait() up for good, so the end is awaited only briefly.
      const settle = Promise.race([stderrEnded, new Promise<void>(r => setTimeout(r, 1000).unref())]);
      void settle.then(() => {
        channel.stderr.unpipe(stderr);
        if (status === undefined && link?.lost() === true) {
          // As ssh does: exit code 255 and a line on stderr naming the lost connection.
          stderr.end(`rmount: connection to ${link.addr} lost\n`);
          resolve({ code: 255, signal: null });
          return;
        }
        stderr.end();
        resolve(status ?? { code: null, signal: null });
      });
    }));
    if (signal) {
      const onAbort = (): void => { void this.kill('SIGTERM'); };
      signal.addEventListener('abort', onAbort, { once: true });
      void this.#done.finally(() => signal.removeEventListener('abort', onAbort));
    }
  }

  /** Tells the pty its new size (window-change); ignored without a pty. */
  resize(cols: number, rows: number): void {
    if (this.pty) this.#channel.setWindow(rows, cols, 0, 0);
  }

  /** Signals the command: the SSH signal request, then the fallback, then closing the channel. */
  async kill(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.#closed) return;
    const name = sig.replace(/^SIG/, '');
    // sshd delivers a signal request with killpg() to the command's process group, but only where
    // privilege separation runs: it ignores them for root logins ("session signalling requires
    // privilege separation") and the request has no reply. So: ask, give it a moment, then
    // signal through a second channel, and as the last resort close the channel.
    if (SSH_SIGNALS.has(name)) {
      try {
        this.#channel.signal(name);
        if (await this.#endsWithin(KILL_GRACE_MS)) return;
      } catch {
        // the channel is gone or refuses: fall through
      }
    }
    if (this.#fallbackKill) {
      await this.#fallbackKill(name).catch(() => {});
      if (await this.#endsWithin(KILL_GRACE_MS)) return;
    }
    this.#channel.close();
  }

  async #endsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.#done.then(() => true),
      new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), ms); }),
    ]);
    clearTimeout(timer);
    return ended;
  }

  /** Resolves with the exit code, or the signal ('SIGTERM') that ended the command, once the channel closes. */
  wait(): Promise<ExitStatus> {
    return this.#done;
  }

  /** Closes the channel without waiting. */
  close(): void {
    if (!this.#closed) this.#channel.close();
  }
}
