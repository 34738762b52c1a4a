import { pipeline } from 'node:stream/promises';
import type { ExitStatus, Session } from './session.ts';

/** What a finished session printed, whole, and how it ended. */
export interface SessionOutput extends ExitStatus {
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs a session to its end for a probe or a small command: feeds `stdin` (none: end-of-file at
 * once), gathers stdout and stderr whole and waits for the exit. The one collector of session
 * output; anything large or interactive streams instead.
 */
export async function collectOutput(session: Session, stdin?: Buffer | NodeJS.ReadableStream): Promise<SessionOutput> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  session.stdout.on('data', (b: Buffer) => out.push(b));
  session.stderr.on('data', (b: Buffer) => err.push(b));
  if (stdin === undefined) session.stdin.end();
  else if (Buffer.isBuffer(stdin)) session.stdin.end(stdin);
  // A command that exits without reading all of stdin breaks the pipe; its exit status tells.
  else await pipeline(stdin, session.stdin).catch(() => undefined);
  const status = await session.wait();
  return { code: status.code, signal: status.signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}
