/**
 * This terminal attached to a remote session: output to stdout, keys to the session, the detach
 * keys (docker's Ctrl-P Ctrl-Q by default) to leave it running, the terminal's size followed.
 */
import { signalNumber } from '../remote/session.ts';
import { UsageError } from '../remote/errors.ts';
import type { Attachment, SessionHost } from '../sessions/types.ts';
import type { CliContext } from './context.ts';

/** Parses docker's spelling of detach keys: `ctrl-p,ctrl-q`, `ctrl-a,d`, `ctrl-@`. */
export function parseDetachKeys(text: string): Buffer {
  const bytes: number[] = [];
  for (const part of text.split(',')) {
    const key = part.trim().toLowerCase();
    const ctrl = /^ctrl-(.)$/.exec(key);
    if (ctrl !== null) {
      const c = ctrl[1]!;
      const code = c === '@' ? 0 : c === '[' ? 27 : c === '\\' ? 28 : c === ']' ? 29 : c === '^' ? 30 : c === '_' ? 31 : /[a-z]/.test(c) ? c.charCodeAt(0) - 96 : -1;
      if (code < 0) throw new UsageError(`invalid detach key "${part}"`, { suggestion: 'ctrl-a … ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_, or one character' });
      bytes.push(code);
    } else if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
    } else {
      throw new UsageError(`invalid detach key "${part}"`, { suggestion: 'as docker spells them: ctrl-p,ctrl-q' });
    }
  }
  if (bytes.length === 0) throw new UsageError('--detach-keys is empty', { suggestion: 'for example ctrl-p,ctrl-q' });
  return Buffer.from(bytes);
}

/**
 * Finds the detach sequence in typed input. Bytes that might start it are held back until the
 * next key tells; `push` returns what to pass on and whether the sequence was completed.
 */
export class DetachMatcher {
  readonly #keys: Buffer;
  #held = 0;

  constructor(keys: Buffer) {
    this.#keys = keys;
  }

  push(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.#keys[this.#held]) {
        this.#held++;
        if (this.#held === this.#keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      // Not the sequence after all: what was held goes through, and this byte may start it anew.
      for (let i = 0; i < this.#held; i++) out.push(this.#keys[i]!);
      this.#held = 0;
      if (byte === this.#keys[0]) this.#held = 1;
      else out.push(byte);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}

/** The exit code an attach ends with: the session's, 128+N for a signal, 0 when detached. */
export function attachExitCode(end: Awaited<Attachment['ended']>): number {
  if (end.kind === 'exit') return end.code;
  if (end.kind === 'signal') return 128 + (signalNumber(`SIG${end.signal.replace(/^SIG/, '')}`) || 0);
  return 0;
}

/**
 * Runs an attachment on this process's stdin/stdout until the session ends (its exit code is
 * returned) or it is detached (0).
 */
export async function attachTerminal(host: SessionHost, a: Attachment, ctx: CliContext, options: { detachKeys: Buffer }): Promise<number> {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  const matcher = new DetachMatcher(options.detachKeys);
  let detachedHere = false;
  if (tty) stdin.setRawMode(true);
  const onInput = (chunk: Buffer): void => {
    const { pass, detach } = tty ? matcher.push(chunk) : { pass: chunk, detach: false };
    if (pass.length > 0 && !a.input.writableEnded) a.input.write(pass);
    if (detach) {
      detachedHere = true;
      a.detach();
    }
  };
  stdin.on('data', onInput);
  const onEnd = (): void => { a.input.end(); };
  stdin.on('end', onEnd);
  const onResize = (): void => void host.resize(a.info.id, process.stdout.columns, process.stdout.rows).catch(() => {});
  if (a.info.tty && process.stdout.isTTY === true) {
    process.stdout.on('resize', onResize);
    onResize(); // the session takes this terminal's size, whatever the last one had
  }
  a.onDropped = bytes => ctx.stderr.write(`\r\n[rmount: ${bytes} bytes of output skipped: this terminal fell behind]\r\n`);
  a.output.on('data', (chunk: Buffer) => {
    if (!ctx.stdout.write(chunk)) {
      a.output.pause();
      ctx.stdout.once('drain', () => a.output.resume());
    }
  });
  try {
    const end = await a.ended;
    if (end.kind === 'closed') {
      ctx.stderr.write(detachedHere
        ? `\r\n[detached from session ${a.info.name}; it keeps running: rmount session attach ${a.info.name}]\r\n`
        : `\r\n[session ${a.info.name}: detached from elsewhere, removed, or the connection was lost]\r\n`);
    }
    return attachExitCode(end);
  } finally {
    stdin.off('data', onInput);
    stdin.off('end', onEnd);
    process.stdout.off('resize', onResize);
    if (tty) stdin.setRawMode(false);
    stdin.pause();
  }
}

/**
 * `session logs`: the session's buffer (the last `tail` lines of it), and with `follow` what it
 * prints from then on until it ends.
 */
export async function printLogs(host: SessionHost, session: string, ctx: CliContext, options: { follow: boolean; tail?: number }): Promise<void> {
  const a = await host.attach(session, { replay: true });
  // The replay is the ring as the attach found it: about `buffered` bytes, exactly that for an
  // ended session (whose stream ends after it).
  let want = a.info.buffered;
  const replay: Buffer[] = [];
  let replayed = false;
  const flushReplay = (): void => {
    if (replayed) return;
    replayed = true;
    let text: Buffer = Buffer.concat(replay);
    if (options.tail !== undefined) text = lastLines(text, options.tail);
    ctx.stdout.write(text);
    if (!options.follow) a.detach();
  };
  a.output.on('data', (chunk: Buffer) => {
    if (replayed) {
      ctx.stdout.write(chunk);
      return;
    }
    const take = Math.min(want, chunk.length);
    replay.push(chunk.subarray(0, take));
    want -= take;
    if (want === 0) {
      flushReplay();
      if (options.follow && take < chunk.length) ctx.stdout.write(chunk.subarray(take));
    }
  });
  if (want === 0) flushReplay();
  const onSigint = (): void => a.detach();
  process.once('SIGINT', onSigint);
  try {
    await a.ended;
    flushReplay();
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The last `n` lines of `text` (a final line without a newline counts). */
export function lastLines(text: Buffer, n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  let end = text.length;
  if (end > 0 && text[end - 1] === 10) end--;
  let seen = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (text[i] === 10 && ++seen === n) return text.subarray(i + 1);
  }
  return text;
}
