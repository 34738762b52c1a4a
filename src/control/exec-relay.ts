/**
 * `exec` on the control socket: a command over the mount's connection (through the agent's
 * process host when that is connected, else the backend's own exec), its stdio framed on the
 * client's connection (protocol.ts).
 */
import type { Socket } from 'node:net';
import { waitLinkReady, type Backend } from '../remote/backend.ts';
import type { Logger } from '../remote/log.ts';
import type { ExecOptions, Session } from '../remote/session.ts';
import type { WriteBack } from '../remote/write-back.ts';
import { CHANNEL, FrameDecoder, MAX_FRAME, encodeControl, encodeFrame, type ExecRequest, type Frame } from './protocol.ts';
import { wireError } from './wire-error.ts';
import { writeBackBarrier } from './write-back-ops.ts';

const SIGNALS = new Set(['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGKILL', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGSTOP', 'SIGTSTP']);

/** What exec needs of the mount. */
export interface ExecDeps {
  backend: Backend;
  log: Logger;
  /** How long an exec waits for a link that is down, ms (default 30 s). */
  linkTimeoutMs?: number | undefined;
  /** Starts through the agent's host; undefined when it cannot (see ControlTarget.run). */
  run?: ((argv: string[], options: ExecOptions) => Promise<Session> | undefined) | undefined;
  /** The mount's write-back journal: an exec first waits until what was saved is on the remote. */
  writeBack?: WriteBack | undefined;
  /**
   * Waited for after a command ends and before its exit is told: the next local tool (a build's
   * output read by the editor, a stub's caller) must see what the command changed.
   */
  settleRemote?: (() => Promise<void>) | undefined;
}

/** The exec sessions of one control socket. */
export class ExecRelay {
  /** Running now. */
  readonly sessions = new Set<Session>();
  /** Started since the mount. */
  started = 0;
  readonly #deps: ExecDeps;

  constructor(deps: ExecDeps) {
    this.#deps = deps;
  }

  /** Hangs every running command up (the mount is going away). */
  hangUpAll(): void {
    for (const session of this.sessions) void session.kill('SIGHUP').catch(() => {}).finally(() => session.close());
  }

  /** Runs one exec request; the connection is in framed mode from here on. */
  serve(socket: Socket, request: ExecRequest, early: Buffer): void {
    const frames = new FrameDecoder();
    const queued: Frame[] = [];
    let session: Session | undefined;
    let exited = false;
    const fail = (error: unknown): void => {
      if (socket.writable) socket.end(encodeControl({ error: wireError(error) }));
    };
    const onFrame = (frame: Frame): void => {
      if (session === undefined) {
        queued.push(frame);
        return;
      }
      const s = session;
      if (frame.channel === CHANNEL.stdin) {
        if (frame.payload.length === 0) s.stdin.end();
        else if (!s.stdin.writableEnded && !s.stdin.write(frame.payload)) {
          socket.pause();
          s.stdin.once('drain', () => socket.resume());
        }
      } else if (frame.channel === CHANNEL.control) {
        let message: { resize?: { cols: number; rows: number }; signal?: string };
        try {
          message = JSON.parse(frame.payload.toString('utf8')) as typeof message;
        } catch {
          return;
        }
        if (message.resize !== undefined) s.resize(message.resize.cols, message.resize.rows);
        if (typeof message.signal === 'string' && SIGNALS.has(message.signal)) {
          void s.kill(message.signal as NodeJS.Signals).catch(error => this.#deps.log.debug('exec: signal failed', error));
        }
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        for (const frame of frames.push(chunk)) onFrame(frame);
      } catch (error) {
        this.#deps.log.warn('control: bad frame, dropping the exec connection', error);
        socket.destroy();
      }
    };
    socket.on('data', onData);
    const gone = new AbortController();
    socket.on('close', () => {
      gone.abort(new Error('the client went away'));
      if (session === undefined || exited) return;
      // The client went away (killed, Ctrl-\): hang the command up as a terminal would.
      const s = session;
      void s.kill('SIGHUP').catch(() => {}).finally(() => setTimeout(() => s.close(), 2000).unref());
    });
    if (early.length > 0) onData(early);
    socket.resume();

    const argv = Array.isArray(request?.argv) ? request.argv.filter((a): a is string => typeof a === 'string') : [];
    if (argv.length === 0 || argv.length !== request.argv.length) {
      fail(Object.assign(new Error('exec needs argv, an array of strings'), { code: 'ERR_USAGE' }));
      return;
    }
    const options: Parameters<Backend['exec']>[1] = {};
    if (typeof request.cwd === 'string') options.cwd = request.cwd;
    if (request.env !== undefined) options.env = request.env;
    if (request.pty !== undefined) options.pty = request.pty;
    // Like a file operation, an exec waits for a link that is down, up to the mount's timeout.
    // The wait is not the exec's own signal: that one would kill the command once it runs.
    const backend = this.#deps.backend;
    // Through the agent's host when it is connected; a command it cannot start (not found, say)
    // goes the backend's way too, so the shell's own answer (127, its message) is what users see.
    const start = async (): Promise<Session> => {
      const viaHost = this.#deps.run?.(argv, options);
      if (viaHost !== undefined) {
        try {
          return await viaHost;
        } catch (error) {
          this.#deps.log.debug('exec: the agent host did not start the command; using the backend', error);
        }
      }
      return backend.exec(argv, options);
    };
    const linkTimeoutMs = this.#deps.linkTimeoutMs ?? 30_000;
    // A build on the remote must see what the editor just saved: wait for the journal first.
    const writeBack = this.#deps.writeBack;
    const synced = writeBack === undefined ? Promise.resolve()
      : writeBackBarrier(writeBack, { timeoutMs: linkTimeoutMs, log: this.#deps.log, signal: gone.signal });
    synced.then(() => waitLinkReady(backend, AbortSignal.timeout(linkTimeoutMs))).then(start).then(s => {
      session = s;
      this.sessions.add(s);
      this.started++;
      if (socket.destroyed) {
        void s.kill('SIGHUP').catch(() => {}).finally(() => s.close());
      }
      socket.write(encodeControl({ started: { pty: s.pty } }));
      forward(s.stdout, CHANNEL.stdout, socket);
      forward(s.stderr, CHANNEL.stderr, socket);
      for (const frame of queued.splice(0)) onFrame(frame);
      void s.wait().then(async status => {
        exited = true;
        this.sessions.delete(s);
        await this.#deps.settleRemote?.().catch(error => this.#deps.log.debug('exec: the remote\'s changes could not be settled', error));
        if (socket.writable) socket.end(encodeControl({ exit: status }));
        s.close();
      });
    }, fail);
  }
}

/** Copies a session stream into frames on `socket`, holding the stream while the socket is full. */
function forward(from: NodeJS.ReadableStream, channel: typeof CHANNEL.stdout | typeof CHANNEL.stderr, socket: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (socket.destroyed) return;
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_FRAME) ok = socket.write(encodeFrame(channel, chunk.subarray(off, off + MAX_FRAME)));
    if (!ok) {
      from.pause();
      socket.once('drain', () => from.resume());
    }
  });
  from.on('error', () => {});
}

