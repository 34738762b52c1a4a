/**
 * The agent as a FileClient, for the backends that run it: `rmount-agent sftp` started over a
 * backend's exec channel, spoken to through the same SFTP codec as the `sftp` subsystem. No TTY:
 * the channel carries SFTP packets. Finding and uploading the build is src/agent's job.
 *
 * With a durable session (the default for mounts) the agent keeps its open files for a grace
 * period after the channel dies, and the next channel resumes them (native/agent/PROTOCOL.md,
 * "Durable sessions"): the client is then told the session's instance, and handles carry over.
 */
import { randomBytes } from 'node:crypto';
import { Duplex, type Readable } from 'node:stream';
import { installAgent, startAgent, type InstallOptions } from '../agent/install.ts';
import type { Backend } from '../remote/backend.ts';
import { PermissionError, UnreachableError, UnsupportedError } from '../remote/errors.ts';
import type { ClosingFileClient, FileClient } from '../remote/file-client.ts';
import type { Logger } from '../remote/log.ts';
import type { Session } from '../remote/session.ts';
import { ReconnectingFileClient } from '../remote/reconnecting-file-client.ts';
import { sftpInitPacket } from '../sftp/sftp-connection.ts';
import { SftpFileClient, type SftpFileClientOptions } from '../sftp/sftp-file-client.ts';

/** The agent's client, which says when its exec stream is gone (as every SftpFileClient does). */
export type AgentFileClient = SftpFileClient & ClosingFileClient;

/** Options of `startAgentFiles`. */
export interface AgentFilesOptions {
  /** Extra arguments after `sftp` (e.g. `--root DIR`). */
  args?: string[];
  /** Receives the agent's stderr lines (its log). */
  log?: (line: string) => void;
  /** Start or resume this durable session instead of a plain one. */
  durable?: DurableAgentSession;
  /** Hears whether a durable session was resumed. */
  logger?: Logger;
}

/** One mount's durable agent session: made once, presented by every agent started for it. */
export interface DurableAgentSession {
  readonly id: string;
  /** Proves to the agent's keeper that a new connection belongs to this session. */
  readonly token: string;
  /** How long the agent keeps the session for a new connection after its link dies. */
  readonly graceMs: number;
}

/** A new durable session, unguessable. */
export function newDurableSession(graceMs: number): DurableAgentSession {
  return { id: randomBytes(12).toString('hex'), token: randomBytes(32).toString('hex'), graceMs };
}

/** Longest wait for the agent's answer to the session line. */
const HANDSHAKE_MS = 30_000;

/**
 * Reads the agent's first line, and nothing after it: the rest of `stream` is SFTP. Rejects when
 * the stream ends or `ms` passes first.
 */
function firstLine(stream: Readable, ms: number, why: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new UnreachableError(`rmount-agent did not start its session within ${ms / 1000} s${why()}`, { suggestion: 'check the link; rmount tries again by itself' })), ms);
    const done = (error: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      if (error === undefined) resolve(line!);
      else reject(error);
    };
    const onEnd = (): void => done(new UnreachableError(`rmount-agent ended before starting its session${why()}`, { suggestion: 'rmount tries again by itself; run with -o debug and read the mount log for what the agent said' }));
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const nl = got.indexOf(0x0a);
      if (nl < 0) {
        if (got.length > 512) done(new UnreachableError('rmount-agent answered the session line with something else'));
        return;
      }
      stream.pause();
      if (nl + 1 < got.length) stream.unshift(got.subarray(nl + 1));
      done(undefined, got.subarray(0, nl).toString('utf8'));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onEnd);
  });
}

/** Starts the agent at `remotePath` over `backend.exec` and resolves with a client over its stdio. */
export async function startAgentFiles(backend: Backend, remotePath: string, options: AgentFilesOptions = {}): Promise<AgentFileClient> {
  return startAgentCommand(backend, [remotePath, ...agentArgs(options)], options);
}

/** `sftp` and what follows it on the agent's command line. */
function agentArgs(options: AgentFilesOptions): string[] {
  const durable = options.durable;
  const durableArgs = durable === undefined ? [] : ['--durable', '--grace', `${Math.max(1, Math.round(durable.graceMs / 1000))}s`];
  return ['sftp', ...durableArgs, ...(options.args ?? [])];
}

/** Runs `argv` (the agent, or a script that execs it) over `backend.exec` and resolves with a client over its stdio. */
async function startAgentCommand(backend: Backend, argv: string[], options: AgentFilesOptions): Promise<AgentFileClient> {
  const durable = options.durable;
  const session = await backend.exec(argv);
  let pending = '';
  const said: string[] = [];
  session.stderr.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (said.length < 5) said.push(line);
      options.log?.(line);
    }
  });
  let instance: string | undefined;
  if (durable !== undefined) {
    // SFTP's INIT goes right behind the line: the relay reads the line byte by byte and leaves
    // the rest for the session's keeper, so VERSION comes one round trip sooner.
    session.stdin.write(Buffer.concat([Buffer.from(`rmount-durable 1 ${durable.id} ${durable.token}\n`), sftpInitPacket()]));
    let line: string;
    try {
      line = await firstLine(session.stdout, HANDSHAKE_MS, () => (said.length > 0 || pending !== '' ? `: ${[...said, pending].join(' ').trim()}` : ''));
    } catch (error) {
      session.close();
      throw error;
    }
    const m = /^rmount-durable (new|resumed) ([0-9a-f]+)$/.exec(line);
    if (m === null) {
      session.close();
      throw new UnreachableError(`rmount-agent answered the session line with "${line.slice(0, 100)}"`);
    }
    instance = m[2]!;
    options.logger?.info(m[1] === 'resumed'
      ? `rmount-agent session resumed on ${backend.addr}: open files carry on as they were`
      : `rmount-agent session started on ${backend.addr} (kept ${durable.graceMs / 1000} s after a lost link)`);
  }
  return sftpOverStdio(session, { name: `rmount-agent on ${backend.addr}`, ...(instance === undefined ? {} : { instance, initSent: true }) },
    error => options.logger?.debug(`rmount-agent's stream on ${backend.addr} failed`, error));
}

/**
 * An SFTP client over a session's stdio (an agent started over exec, a child `ssh -s … sftp`).
 * When the process dies its stream ends: the codec fails every request with ENOTCONN and resolves
 * the client's `closed`, and the session is closed with the stream. What breaks the stream goes
 * to `onError` too: once the codec has let go of it (a failed handshake), an error left without a
 * listener would end the daemon. A failed handshake closes the session.
 */
export async function sftpOverStdio(session: Pick<Session, 'stdin' | 'stdout' | 'close'>, options: SftpFileClientOptions,
  onError: (error: Error) => void = () => {}): Promise<AgentFileClient> {
  const stream = Duplex.from({ readable: session.stdout, writable: session.stdin });
  stream.once('close', () => session.close());
  stream.on('error', onError);
  try {
    return await SftpFileClient.over(stream, options);
  } catch (error) {
    session.close();
    throw error;
  }
}

/**
 * Makes agent clients for one backend, for a ReconnectingFileClient, each in one exec where the
 * remote has the agent already: a durable session first tries the quick start (one of our builds
 * where an install would have put it, see `quickStartArgv`), which is what a mount of a remote
 * mounted before needs. Otherwise it installs the agent (see `installAgent`: uname, the install
 * check, perhaps an upload, then the start) and remembers where, so that a reconnect starts that
 * copy at once; it installs again only when that fails to start (a container restarted with a
 * fresh /tmp).
 */
export function agentConnector(backend: Backend, install: InstallOptions = {}, options: AgentFilesOptions = {}): () => Promise<AgentFileClient> {
  let remotePath: string | undefined;
  // The quick start tells a missing agent apart only by the durable session's first line.
  const quick = options.durable !== undefined;
  return async () => {
    if (remotePath !== undefined) {
      try {
        return await startAgentFiles(backend, remotePath, options);
      } catch (error) {
        options.logger?.debug(`rmount-agent at ${remotePath} did not start; installing it again`, error);
      }
    } else if (quick) {
      const r = await startAgent(backend, install, agentArgs(options), argv => startAgentCommand(backend, argv, options),
        error => options.logger?.debug(`rmount-agent is not installed on ${backend.addr} yet (or did not start); installing it`, error));
      // Installed: from now on its path is known.
      if (r.remotePath !== undefined) ({ remotePath } = r);
      return r.started;
    }
    remotePath = (await installAgent(backend, install)).remotePath;
    return startAgentFiles(backend, remotePath, options);
  };
}

/** Installs the agent if needed (see `installAgent`), then starts it. */
export async function agentFiles(backend: Backend, install: InstallOptions = {}, options: AgentFilesOptions = {}): Promise<AgentFileClient> {
  const { remotePath } = await installAgent(backend, install);
  return startAgentFiles(backend, remotePath, options);
}

/**
 * The agent where it can run, else `fallback()`: for backends whose own client is weaker (Docker's
 * agentless copy/exec). `connect` makes one agent client (and is called again to replace a killed
 * one). Falls back when there is no build for the platform (UnsupportedError) or no folder can hold
 * an executable (PermissionError: read-only or noexec everywhere); `onFallback` hears why.
 */
export async function agentOrFallback(
  connect: () => Promise<FileClient>,
  fallback: () => Promise<FileClient>,
  onFallback?: (reason: Error) => void,
): Promise<FileClient> {
  try {
    return await ReconnectingFileClient.create(connect);
  } catch (error) {
    if (!(error instanceof UnsupportedError) && !(error instanceof PermissionError)) throw error;
    onFallback?.(error);
    return fallback();
  }
}
