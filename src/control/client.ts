/**
 * The client side of a mount's control socket (protocol.ts). Kept lean on purpose: a path stub
 * runs it on every call, so it loads nothing beyond node:net/fs/stream and the protocol.
 */
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { RmountError } from '../remote/errors.ts';
import type { ExitStatus, Session } from '../remote/session.ts';
import { WriteBackFailedError } from '../remote/write-back.ts';
import {
  CHANNEL, FrameDecoder, LineDecoder, MAX_FRAME, PROTOCOL_VERSION, encodeControl, encodeFrame, parseEnvelope, renderEnvelope,
  type Envelope, type ExecRequest, type Frame, type HelloPayload, type WireError,
} from './protocol.ts';

/** A failure reported by the control socket or in reaching it; `code` is the wire code. */
export class ControlError extends RmountError {
  override readonly name = 'ControlError';
  readonly errno = 'EIO';
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions & { suggestion?: string }) {
    super(message, options);
    this.code = code;
  }
}

/** An authenticated connection to a mount daemon. */
export interface ControlClient {
  /** Sends one envelope and resolves with the answer's payload; an `error` answer rejects. */
  request<T>(type: string, payload?: unknown): Promise<T>;
  /** Starts a command over the mount's connection; the client is spent afterwards. */
  exec(request: ExecRequest): Promise<Session>;
  /**
   * Sends a request that switches the connection to framed mode (protocol.ts) and hands it over:
   * `onData` gets every byte from then on. Resolves with the socket once the switch is made.
   * The client is spent afterwards.
   */
  framed(type: string, payload: unknown, onData: (chunk: Buffer) => void): Promise<Socket>;
  /** Closes the connection. */
  close(): void;
}

/** How to connect. */
export interface ConnectControlOptions {
  /** Limit for connecting and authenticating (default 5 s). */
  timeoutMs?: number;
}

type Waiter =
  | { kind: 'envelope'; resolve: (e: Envelope) => void; reject: (e: Error) => void }
  | { kind: 'framed'; start: (rest: Buffer) => void; reject: (e: Error) => void };

/**
 * Connects to the socket at `path` (or over an already connected `socket`) and authenticates.
 * Rejects with ControlError: ERR_NO_DAEMON when nobody listens there, ERR_PERMISSION when refused.
 */
export async function connectControl(target: string | Socket, options: ConnectControlOptions = {}): Promise<ControlClient> {
  const socket = typeof target === 'string' ? connect(target) : target;
  const conn = new Connection(socket);
  const timer = setTimeout(() => conn.fail(new ControlError('ERR_TIMEOUT', 'the mount daemon did not answer on its control socket')), options.timeoutMs ?? 5000);
  try {
    const hello = await conn.next();
    const h = hello.payload as HelloPayload | undefined;
    if (hello.type !== 'hello' || h?.version !== PROTOCOL_VERSION) {
      throw new ControlError('ERR_PROTOCOL', `the control socket speaks another protocol (${JSON.stringify(hello).slice(0, 80)})`);
    }
    // The server checks the owner of this file; if we cannot make it, it refuses us and says so.
    await writeFile(h.challenge, h.nonce, { flag: 'wx', mode: 0o600 }).catch(() => {});
    conn.authenticate();
    return conn;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

class Connection implements ControlClient {
  readonly #socket: Socket;
  readonly #lines = new LineDecoder();
  readonly #waiters: Waiter[] = [];
  #frameSink: ((chunk: Buffer) => void) | undefined;
  #failure: Error | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', chunk => this.#onData(chunk));
    socket.on('error', error => {
      const code = (error as NodeJS.ErrnoException).code;
      this.fail(code === 'ENOENT' || code === 'ECONNREFUSED'
        ? new ControlError('ERR_NO_DAEMON', 'no mount daemon answers on the control socket', { cause: error, suggestion: 'rmount status shows the mounts; remount a stale one' })
        : code === 'EACCES'
          ? new ControlError('ERR_PERMISSION', 'the control socket belongs to another user', { cause: error })
          : new ControlError('ERR_CONNECTION', `control socket: ${error.message}`, { cause: error }));
    });
    socket.on('close', () => this.fail(new ControlError('ERR_CONNECTION', 'the mount daemon closed the control connection')));
  }

  /** Rejects everything waiting and ends the connection. */
  fail(error: Error): void {
    this.#failure ??= error;
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
    this.#socket.destroy();
  }

  next(): Promise<Envelope> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure);
      this.#waiters.push({ kind: 'envelope', resolve, reject });
      this.#drain();
    });
  }

  /** Sends `auth` and queues the check of its answer ahead of any request. */
  authenticate(): void {
    this.#socket.write(renderEnvelope('auth'));
    void this.next().then(answer => {
      if (answer.type !== 'ok') this.fail(toError(answer));
    }, () => {});
  }

  async request<T>(type: string, payload?: unknown): Promise<T> {
    this.#socket.write(renderEnvelope(type, payload));
    const answer = await this.next();
    if (answer.type !== type) throw toError(answer);
    return answer.payload as T;
  }

  exec(request: ExecRequest): Promise<Session> {
    this.#socket.write(renderEnvelope('exec', request));
    const session = new SocketSession(this.#socket);
    return new Promise<Session>((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure);
      this.#waiters.push({
        kind: 'framed',
        start: rest => {
          this.#frameSink = chunk => session.onData(chunk);
          session.started.then(() => resolve(session), reject);
          if (rest.length > 0) session.onData(rest);
        },
        reject,
      });
      this.#drain();
    });
  }

  framed(type: string, payload: unknown, onData: (chunk: Buffer) => void): Promise<Socket> {
    this.#socket.write(renderEnvelope(type, payload));
    return new Promise<Socket>((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure);
      this.#waiters.push({
        kind: 'framed',
        start: rest => {
          this.#frameSink = onData;
          resolve(this.#socket);
          if (rest.length > 0) onData(rest);
        },
        reject,
      });
      this.#drain();
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#frameSink !== undefined) {
      this.#frameSink(chunk);
      return;
    }
    this.#lines.append(chunk);
    this.#drain();
  }

  #drain(): void {
    while (this.#waiters.length > 0 && this.#frameSink === undefined) {
      const head = this.#waiters[0]!;
      if (head.kind === 'framed') {
        this.#waiters.shift();
        head.start(this.#lines.takeRest());
        return;
      }
      const line = this.#lines.next();
      if (line === undefined) return;
      this.#waiters.shift();
      try {
        head.resolve(parseEnvelope(line));
      } catch (error) {
        head.reject(new ControlError('ERR_PROTOCOL', 'malformed answer on the control socket', { cause: error }));
      }
    }
  }
}

function toError(envelope: Envelope): ControlError | WriteBackFailedError {
  if (envelope.type === 'error') return fromWire(envelope.payload as Partial<WireError> | undefined);
  return new ControlError('ERR_PROTOCOL', `unexpected "${envelope.type}" answer on the control socket`);
}

/** The error a wire error stands for; refused write-back operations come back as the journal's own error, with their list. */
export function fromWire(e: Partial<WireError> | undefined): ControlError | WriteBackFailedError {
  if (e?.code === 'ERR_WRITEBACK_FAILED' && Array.isArray(e.failed)) return new WriteBackFailedError(e.failed);
  return new ControlError(e?.code ?? 'ERR_CONTROL', e?.message ?? 'the mount daemon refused the request', e?.suggestion === undefined ? {} : { suggestion: e.suggestion });
}

/**
 * What is written to it goes to the command on `socket` as stdin frames (split at MAX_FRAME,
 * held while the socket is full); ending it sends the empty frame that is end-of-file.
 */
export function framedInput(socket: Socket): Writable {
  const input = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      if (socket.destroyed) return callback();
      let last = true;
      for (let off = 0; off < chunk.length; off += MAX_FRAME) last = socket.write(encodeFrame(CHANNEL.stdin, chunk.subarray(off, off + MAX_FRAME)));
      if (last) callback();
      else socket.once('drain', () => callback());
    },
    final: callback => {
      if (!socket.destroyed) socket.write(encodeFrame(CHANNEL.stdin, Buffer.alloc(0)));
      callback();
    },
  });
  input.on('error', () => {});
  return input;
}

/** A remote command reached through the control socket, shaped like any backend's Session. */
class SocketSession implements Session {
  readonly stdin: Writable;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  pty = false;
  readonly started: Promise<void>;
  readonly #socket: Socket;
  readonly #frames = new FrameDecoder();
  readonly #exited: Promise<ExitStatus>;
  #settleStart!: (error?: Error) => void;
  #settleExit!: (status: ExitStatus) => void;
  #status: ExitStatus | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.started = new Promise((resolve, reject) => {
      this.#settleStart = error => (error === undefined ? resolve() : reject(error));
    });
    this.#exited = new Promise(resolve => { this.#settleExit = resolve; });
    this.stdin = framedInput(socket);
    socket.on('close', () => this.#end({ code: null, signal: null }, new ControlError('ERR_CONNECTION', 'the mount daemon closed the control connection')));
  }

  onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#frames.push(chunk);
    } catch (error) {
      this.#socket.destroy(error as Error);
      return;
    }
    for (const frame of frames) {
      if (frame.channel === CHANNEL.stdout || frame.channel === CHANNEL.stderr) {
        const out = frame.channel === CHANNEL.stdout ? this.stdout : this.stderr;
        if (!out.write(frame.payload)) {
          this.#socket.pause();
          out.once('drain', () => this.#socket.resume());
        }
      } else if (frame.channel === CHANNEL.control) {
        this.#onControl(frame.payload);
      }
    }
  }

  #onControl(payload: Buffer): void {
    let message: { started?: { pty: boolean }; exit?: ExitStatus; error?: WireError };
    try {
      message = JSON.parse(payload.toString('utf8')) as typeof message;
    } catch {
      return;
    }
    if (message.started !== undefined) {
      this.pty = message.started.pty;
      this.#settleStart();
    } else if (message.exit !== undefined) {
      this.#end(message.exit);
    } else if (message.error !== undefined) {
      this.#end({ code: null, signal: null }, fromWire(message.error));
    }
  }

  #end(status: ExitStatus, startError?: Error): void {
    if (this.#status !== undefined) return;
    this.#status = status;
    if (startError !== undefined) this.#settleStart(startError);
    this.stdout.end();
    this.stderr.end();
    this.#settleExit(status);
  }

  resize(cols: number, rows: number): void {
    if (!this.#socket.destroyed) this.#socket.write(encodeControl({ resize: { cols, rows } }));
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.#socket.destroyed && this.#status === undefined) this.#socket.write(encodeControl({ signal }));
  }

  wait(): Promise<ExitStatus> {
    return this.#exited;
  }

  close(): void {
    this.#socket.destroy();
  }
}
