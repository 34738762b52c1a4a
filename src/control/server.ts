/**
 * The control socket a mount daemon serves: status, health, cache flush, sync (the write-back
 * journal), unmount, and exec over the mount's own connection, and `discover` (the executables on
 * the remote PATH, for stubs).
 * Wire format in protocol.ts.
 *
 * Who may connect. Node has no SO_PEERCRED, so two checks stand in for it:
 *  1. The kernel's: the socket is created mode 0600 (under a 0177 umask, then chmod) inside the
 *     0700 runtime folder; connect(2) needs write permission on the socket file, so only its
 *     owner (or root) gets a connection at all.
 *  2. Ours, per connection: the `hello` names a fresh random file inside the socket's folder and a
 *     nonce; the client must create that file holding the nonce before `auth`. The server then
 *     checks with lstat that it is a regular file owned by our uid (or root) holding the nonce.
 *     The kernel sets the owner of a new file to the creator's fsuid, so a peer of another uid
 *     (say one handed a connected descriptor) cannot pass, and cannot create the file in our
 *     0700 folder to begin with. A refused peer gets an `error` envelope and is disconnected.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readFile, rm, stat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Backend } from '../remote/backend.ts';
import type { ExecOptions, Session } from '../remote/session.ts';
import type { WorkspaceStats } from '../workspacefs/stats.ts';
import type { Logger } from '../remote/log.ts';
import type { WriteBack } from '../remote/write-back.ts';
import {
  LineDecoder, PROTOCOL_VERSION, encodeControl, parseEnvelope, renderEnvelope,
  type Envelope, type ExecRequest, type HealthPayload, type MountStatusPayload, type WireError,
} from './protocol.ts';
import { linkReport } from './link-report.ts';
import { ExecRelay } from './exec-relay.ts';
import { wireError } from './wire-error.ts';
import { SESSION_REQUESTS, SessionRelay, type AttachRequest } from './session-ops.ts';
import type { SessionHost } from '../sessions/types.ts';
import { SessionError } from '../sessions/errors.ts';
import type { ForwardSet } from '../sessions/forward-set.ts';
import { FORWARD_REQUESTS, answerForward } from './forward-ops.ts';
import { answerSync } from './write-back-ops.ts';

/** What the server needs of a running mount. */
export interface ControlTarget {
  readonly destination: string;
  readonly mountpoint: string;
  readonly remotePath: string;
  readonly startedAt: string;
  readonly backend: Backend;
  readonly filesystem: { stats(): WorkspaceStats; flushCaches(): void };
  /** True when remote changes invalidate the caches (the agent's watch). */
  readonly watching: boolean;
  /** How long an exec waits for a link that is down before it fails, ms (the mount's `timeout`; default 30 s). */
  readonly linkTimeoutMs?: number;
  /** The connection to rmount-agent's process host, for `session-*` requests; absent: sessions are refused. */
  readonly sessions?: () => Promise<SessionHost>;
  /**
   * Starts a command through rmount-agent's process host when a connection to it is up (no new
   * channel, no login shell); undefined when there is none (or it cannot take this command),
   * and exec then uses the backend.
   */
  readonly run?: (argv: string[], options: ExecOptions) => Promise<Session> | undefined;
  /** The mount's port forwards, for `forward-*` requests; absent: forwards are refused. */
  readonly forwards?: ForwardSet;
  /**
   * The mount's write-back journal: `sync` requests, `writeBack` in `status`, and the barrier
   * before every exec. Absent: changes are on the remote when they return, nothing to wait for.
   */
  readonly writeBack?: WriteBack;
  /** Waited for after each exec ends, before the exit is told: what the command changed shows through the mount. */
  readonly settleRemote?: () => Promise<void>;
  stop(): Promise<void>;
}

/** How to serve. */
export interface ControlServerOptions {
  /** The socket's path; its folder must exist and be private (mode 0700). */
  socketPath: string;
  log: Logger;
  /** A connection that has not authenticated within this long is dropped (default 5 s). */
  authTimeoutMs?: number;
  /** How long remote-call timeouts keep the health `degraded` (default 30 s). */
  degradedForMs?: number;
}

/** A listening control socket. */
export interface ControlServer {
  readonly socketPath: string;
  /** The health as `status` reports it: the link's, or `degraded` while operations time out. */
  health(): HealthPayload;
  /** Stops listening, ends running exec sessions and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

/** Starts serving `target` on `options.socketPath` (a stale socket file there is replaced). */
export async function serveControl(target: ControlTarget, options: ControlServerOptions): Promise<ControlServer> {
  const state = new ServerState(target, options);
  await state.listen();
  return state;
}

class ServerState implements ControlServer {
  readonly socketPath: string;
  readonly #target: ControlTarget;
  readonly #log: Logger;
  readonly #authTimeoutMs: number;
  readonly #degradedForMs: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #execs: ExecRelay;
  #closing: Promise<void> | undefined;
  readonly #sessionRelay: SessionRelay;
  #timeoutsSeen = 0;
  #lastTimeoutAt = 0;

  constructor(target: ControlTarget, options: ControlServerOptions) {
    this.socketPath = options.socketPath;
    this.#target = target;
    this.#log = options.log;
    this.#authTimeoutMs = options.authTimeoutMs ?? 5000;
    this.#degradedForMs = options.degradedForMs ?? 30_000;
    this.#server = createServer(socket => this.#accept(socket));
    this.#execs = new ExecRelay({ backend: target.backend, log: options.log, linkTimeoutMs: target.linkTimeoutMs, run: target.run, writeBack: target.writeBack, settleRemote: target.settleRemote });
    const sessions = target.sessions;
    this.#sessionRelay = new SessionRelay(sessions ?? (() => Promise.reject(new SessionError('ERR_NO_SESSIONS', `the mount on ${target.mountpoint} cannot hold sessions`, {
      suggestion: 'sessions need rmount-agent on the remote; start one with --in DESTINATION instead',
    }))));
  }

  async listen(): Promise<void> {
    const dir = dirname(this.socketPath);
    const st = await stat(dir);
    if ((st.mode & 0o077) !== 0 && st.uid === process.geteuid?.()) {
      this.#log.warn(`control: ${dir} was open to other users; made it 0700`);
      await chmod(dir, 0o700);
    }
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      // bind(2) happens inside listen(), synchronously: the umask makes the file 0600 from birth.
      const umask = process.umask(0o177);
      try {
        this.#server.listen(this.socketPath, () => {
          this.#server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    await chmod(this.socketPath, 0o600);
    this.#server.on('error', error => this.#log.error('control socket error', error));
  }

  health(): HealthPayload {
    const link = linkReport(this.#target.backend);
    if (this.#closing !== undefined) return { state: 'closed', reason: 'the mount is stopping', link };
    const why = link.lastError === undefined ? '' : `: ${link.lastError.message}`;
    switch (link.state) {
      case 'reconnecting':
        return { state: 'reconnecting', reason: `the connection is down since ${link.downSeconds ?? 0}s, reconnecting${why}`, link };
      case 'closed':
        return { state: 'closed', reason: `the connection is gone${why}`, link };
      case 'connecting':
        return { state: 'connecting', link };
      case 'ready':
        break;
    }
    const timeouts = this.#target.filesystem.stats().timeouts;
    if (timeouts > this.#timeoutsSeen) {
      this.#timeoutsSeen = timeouts;
      this.#lastTimeoutAt = Date.now();
    }
    if (this.#lastTimeoutAt !== 0 && Date.now() - this.#lastTimeoutAt < this.#degradedForMs) {
      return { state: 'degraded', reason: `${timeouts} remote operation(s) timed out, the last ${Math.round((Date.now() - this.#lastTimeoutAt) / 1000)}s ago`, link };
    }
    return { state: 'ready', link };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>(resolve => this.#server.close(() => resolve()));
      this.#execs.hangUpAll();
      for (const socket of this.#sockets) socket.destroy();
      await closed;
      await rm(this.socketPath, { force: true }).catch(() => {});
    })();
    return this.#closing;
  }

  #status(): MountStatusPayload {
    const t = this.#target;
    const stats = t.filesystem.stats();
    const c = stats.cache;
    const caches = [c.attr, c.entry, c.negative, c.dir, c.readlink];
    const hits = caches.reduce((n, h) => n + h.hits, 0);
    const misses = caches.reduce((n, h) => n + h.misses, 0);
    const health = this.health();
    return {
      destination: t.destination, mountpoint: t.mountpoint, remotePath: t.remotePath, pid: process.pid,
      health: health.state, ...(health.reason === undefined ? {} : { reason: health.reason }),
      link: health.link,
      startedAt: t.startedAt,
      ops: Object.values(stats.ops).reduce((n, v) => n + v, 0),
      opsByName: stats.ops,
      remoteCallsByName: stats.remoteCalls,
      errors: Object.values(stats.errors).reduce((n, v) => n + v, 0),
      bytesRead: stats.bytesRead, bytesWritten: stats.bytesWritten,
      remoteBytesRead: stats.remoteBytesRead, remoteBytesWritten: stats.remoteBytesWritten,
      cacheHits: hits, cacheMisses: misses, cacheHitRatio: hits + misses === 0 ? null : hits / (hits + misses),
      watch: t.watching,
      execRunning: this.#execs.sessions.size, execStarted: this.#execs.started,
      inodes: stats.inodes, listings: stats.listings, listingEntries: stats.listingEntries,
      ...memory(),
      ...(t.writeBack === undefined ? {} : { writeBack: t.writeBack.status() }),
    };
  }

  #accept(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', error => this.#log.debug('control connection error', error));
    const nonce = randomBytes(16).toString('hex');
    const challenge = join(dirname(this.socketPath), `auth-${randomBytes(12).toString('hex')}`);
    const lines = new LineDecoder();
    let authed = false;
    let busy = false;
    const authTimer = setTimeout(() => socket.destroy(), this.#authTimeoutMs);
    authTimer.unref();
    // Ends a long answer (a `sync`) whose client went away.
    const gone = new AbortController();

    // Envelopes are handled one at a time, in order; the socket is paused while one is.
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      socket.pause();
      try {
        for (let line = lines.next(); line !== undefined; line = lines.next()) {
          let envelope: Envelope;
          try {
            envelope = parseEnvelope(line);
          } catch {
            this.#refuse(socket, { code: 'ERR_PROTOCOL', message: 'malformed envelope' });
            return;
          }
          if (!authed) {
            clearTimeout(authTimer);
            const refusal = envelope.type === 'auth' ? await checkOwnership(challenge, nonce) : 'the first envelope must be auth';
            if (refusal !== undefined) {
              this.#log.warn(`control: refused a connection: ${refusal}`);
              this.#refuse(socket, { code: 'ERR_PERMISSION', message: `refused: ${refusal}` });
              return;
            }
            authed = true;
            socket.write(renderEnvelope('ok'));
            continue;
          }
          if (envelope.type === 'exec') {
            socket.removeListener('data', onData);
            this.#execs.serve(socket, envelope.payload as ExecRequest, lines.takeRest());
            return;
          }
          if (envelope.type === 'session-attach') {
            socket.removeListener('data', onData);
            this.#sessionRelay.attach(socket, envelope.payload as AttachRequest, lines.takeRest(), error => {
              if (socket.writable) socket.end(encodeControl({ error: wireError(error) }));
            });
            return;
          }
          socket.write(await this.#answer(envelope, gone.signal));
        }
      } finally {
        busy = false;
      }
      if (!socket.destroyed && socket.listenerCount('data') > 0) socket.resume();
    };
    const onData = (chunk: Buffer): void => {
      lines.append(chunk);
      void pump();
    };
    socket.on('data', onData);
    socket.on('close', () => {
      clearTimeout(authTimer);
      gone.abort(new Error('the client went away'));
      void unlink(challenge).catch(() => {});
    });
    socket.write(renderEnvelope('hello', { version: PROTOCOL_VERSION, challenge, nonce }));
  }

  async #answer(envelope: Envelope, clientGone: AbortSignal): Promise<string> {
    try {
      if (SESSION_REQUESTS.has(envelope.type)) return renderEnvelope(envelope.type, await this.#sessionRelay.answer(envelope));
      if (FORWARD_REQUESTS.has(envelope.type)) {
        const forwards = this.#target.forwards;
        if (forwards === undefined) throw new SessionError('ERR_NO_FORWARDS', `the mount on ${this.#target.mountpoint} cannot forward ports`);
        return renderEnvelope(envelope.type, await answerForward(envelope, forwards));
      }
      switch (envelope.type) {
        case 'status':
          return renderEnvelope('status', this.#status());
        case 'health':
          return renderEnvelope('health', this.health());
        case 'sync':
          // Only this connection waits: `rmount sync` polls `status` on a second one meanwhile.
          return renderEnvelope('sync', await answerSync(this.#target.writeBack, envelope.payload, clientGone));
        case 'cache-flush':
          this.#target.filesystem.flushCaches();
          return renderEnvelope('cache-flush', { flushed: true });
        case 'discover': {
          const { discoverCommands } = await import('../stubs/discover.ts');
          return renderEnvelope('discover', await discoverCommands(this.#target.backend));
        }
        case 'unmount':
          // Answered first: stopping closes this socket.
          setImmediate(() => void this.#target.stop().catch(error => this.#log.error('unmount through the control socket failed', error)));
          return renderEnvelope('unmount', { stopping: true });
        default:
          return renderEnvelope('error', { code: 'ERR_USAGE', message: `unknown request "${envelope.type}"` } satisfies WireError);
      }
    } catch (error) {
      return renderEnvelope('error', wireError(error));
    }
  }

  #refuse(socket: Socket, error: WireError): void {
    socket.end(renderEnvelope('error', error));
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** Undefined when `path` is a regular file of ours (or root's) holding `nonce`; else why not. */
async function checkOwnership(path: string, nonce: string): Promise<string | undefined> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return 'the challenge file is not a regular file';
    const uid = process.geteuid?.() ?? -1;
    if (st.uid !== uid && st.uid !== 0) return `the challenge file belongs to uid ${st.uid}, not ${uid}`;
    if (st.nlink !== 1) return 'the challenge file has other links';
    if ((await readFile(path, 'utf8')) !== nonce) return 'the challenge file does not hold the nonce';
    return undefined;
  } catch (error) {
    return `no challenge file (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  } finally {
    await unlink(path).catch(() => {});
  }
}

/** The daemon's memory as `rmount status` shows it. */
function memory(): { rssBytes: number; heapUsedBytes: number } {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
}
