/**
 * Sessions held by the mount daemon, for remotes where rmount-agent cannot run (no build for the
 * platform, no folder that can hold an executable): each session is one of the backend's exec
 * commands, its output kept here in a ring. They outlive the terminals that attach to them, not
 * the daemon; `session ls` says so. Same behaviour and error codes as the agent's host.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type { ExecOptions, Session } from '../remote/session.ts';
import { SessionError } from './errors.ts';
import type { AttachEnd, Attachment, HostHello, SessionHost, SessionInfo, StartRequest } from './types.ts';

const DEFAULT_BUFFER = 1_000_000;
const MAX_BUFFER = 256 * 1024 * 1024;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** How long an ended session stays listed, as the agent's host keeps them. */
const RETAIN_MS = 60 * 60 * 1000;

/** The last `size` bytes of an output, and how many were ever written. */
export class OutputRing {
  readonly size: number;
  #chunks: Buffer[] = [];
  #held = 0;
  total = 0;

  constructor(size: number) {
    this.size = size;
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    while (this.#held - this.#chunks[0]!.length >= this.size) this.#held -= this.#chunks.shift()!.length;
  }

  /** Exactly the last `size` bytes (all of them while fewer were written). */
  contents(): Buffer {
    const all = Buffer.concat(this.#chunks);
    return all.length > this.size ? all.subarray(all.length - this.size) : all;
  }

  get buffered(): number {
    return Math.min(this.#held, this.size);
  }
}

interface Exec {
  (argv: string[], options: ExecOptions): Promise<Session>;
}

class HeldSession {
  readonly info: Omit<SessionInfo, 'clients' | 'buffered' | 'total'>;
  readonly ring: OutputRing;
  readonly attached = new Set<HeldAttachment>();
  readonly session: Session;
  ended = false;
  timer: NodeJS.Timeout | undefined;

  constructor(info: HeldSession['info'], ring: OutputRing, session: Session) {
    this.info = info;
    this.ring = ring;
    this.session = session;
  }

  snapshot(): SessionInfo {
    return { ...this.info, clients: this.attached.size, buffered: this.ring.buffered, total: this.ring.total };
  }

  end(): AttachEnd {
    return this.info.state === 'killed' ? { kind: 'signal', signal: this.info.signal ?? 'KILL' } : { kind: 'exit', code: this.info.exitCode ?? 255 };
  }
}

class HeldAttachment implements Attachment {
  readonly info: SessionInfo;
  readonly output = new PassThrough();
  readonly input: Writable;
  readonly ended: Promise<AttachEnd>;
  onDropped?: (bytes: number) => void;
  #settle!: (end: AttachEnd) => void;
  #over = false;
  readonly #held: HeldSession;

  constructor(held: HeldSession, replay: boolean, eofClosesInput: boolean) {
    this.#held = held;
    this.info = held.snapshot();
    this.ended = new Promise(resolve => { this.#settle = resolve; });
    const stdin = held.session.stdin;
    this.input = new Writable({
      write: (chunk: Buffer, _e, cb) => {
        if (held.ended || stdin.writableEnded) return cb();
        if (stdin.write(chunk)) cb();
        else stdin.once('drain', () => cb());
      },
      final: cb => {
        if (eofClosesInput && !held.info.tty && !stdin.writableEnded) stdin.end();
        cb();
      },
    });
    this.input.on('error', () => {});
    if (replay) this.output.write(held.ring.contents());
  }

  /** Live output; a client more than a ring behind skips ahead and is told how much. */
  push(chunk: Buffer): void {
    if (this.#over) return;
    if (this.output.writableLength > this.#held.ring.size) {
      this.onDropped?.(chunk.length);
      return;
    }
    this.output.write(chunk);
  }

  finish(end: AttachEnd): void {
    if (this.#over) return;
    this.#over = true;
    this.#held.attached.delete(this);
    this.output.end();
    this.#settle(end);
  }

  detach(): void {
    this.finish({ kind: 'closed' });
  }
}

/** Sessions run by `exec` and held in this process. */
export class DaemonSessionHost implements SessionHost {
  readonly where = 'daemon' as const;
  readonly closed: Promise<void> = new Promise(() => {});
  readonly #exec: Exec;
  readonly #sessions = new Map<string, HeldSession>();

  constructor(exec: Exec) {
    this.#exec = exec;
  }

  async hello(): Promise<HostHello> {
    return { protocol: 1, version: 'daemon', os: '', arch: '', pid: process.pid, hostname: '', pty: true, ports: false };
  }

  async start(request: StartRequest): Promise<{ id: string; name: string }> {
    if (!Array.isArray(request.argv) || request.argv.length === 0 || request.argv.some(a => typeof a !== 'string') || request.argv[0] === '') {
      throw new SessionError('ERR_BAD_REQUEST', 'argv must name a command');
    }
    if (request.name !== undefined && !NAME.test(request.name)) throw new SessionError('ERR_BAD_REQUEST', 'a session name is 1 to 64 of A-Z a-z 0-9 . _ -');
    if (request.name !== undefined && this.#find(request.name) !== undefined) {
      throw new SessionError('ERR_NAME_TAKEN', `a session named "${request.name}" exists`, { title: 'Name already taken', suggestion: 'Pick another name, or remove the old session with rm.' });
    }
    const size = request.buffer ?? DEFAULT_BUFFER;
    if (!Number.isInteger(size) || size < 1 || size > MAX_BUFFER) throw new SessionError('ERR_BAD_REQUEST', `buffer must be between 1 and ${MAX_BUFFER} bytes`);
    const env: Record<string, string> = {};
    for (const kv of request.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new SessionError('ERR_BAD_REQUEST', `env entry "${kv}" is not KEY=VALUE`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const options: ExecOptions = { env };
    if (request.cwd !== undefined) options.cwd = request.cwd;
    if (request.tty) options.pty = { cols: request.tty.cols, rows: request.tty.rows, term: request.tty.term ?? 'xterm-256color' };
    let session: Session;
    try {
      session = await this.#exec(request.argv, options);
    } catch (error) {
      throw new SessionError('ERR_START_FAILED', `could not start the command: ${(error as Error).message}`, { cause: error, title: 'Could not start the command' });
    }
    const id = randomBytes(6).toString('hex');
    const held = new HeldSession({
      id, name: request.name ?? id, argv: [...request.argv], cwd: request.cwd ?? '~', created: new Date().toISOString(),
      pid: 0, tty: session.pty, state: 'running',
    }, new OutputRing(size), session);
    this.#sessions.set(id, held);
    const onOutput = (chunk: Buffer): void => {
      held.ring.write(chunk);
      for (const a of held.attached) a.push(chunk);
    };
    session.stdout.on('data', onOutput);
    session.stderr.on('data', onOutput);
    void session.wait().then(status => {
      held.ended = true;
      if (status.signal !== null) Object.assign(held.info, { state: 'killed', signal: status.signal.replace(/^SIG/, '') });
      else Object.assign(held.info, { state: 'exited', exitCode: status.code ?? 255 });
      const end = held.end();
      for (const a of [...held.attached]) a.finish(end);
      held.timer = setTimeout(() => this.#sessions.delete(id), RETAIN_MS).unref();
      session.close();
    });
    return { id, name: held.info.name };
  }

  async list(): Promise<SessionInfo[]> {
    return [...this.#sessions.values()].map(s => s.snapshot());
  }

  #find(key: string): HeldSession | undefined {
    return this.#sessions.get(key) ?? [...this.#sessions.values()].find(s => s.info.name === key);
  }

  #get(key: string): HeldSession {
    const held = this.#find(key);
    if (held === undefined) {
      throw new SessionError('ERR_SESSION_NOT_FOUND', `no session "${key}"`, { title: 'No such session', suggestion: 'rmount session ls lists them' });
    }
    return held;
  }

  async attach(session: string, options: { replay: boolean; eofClosesInput?: boolean }): Promise<Attachment> {
    const held = this.#get(session);
    const a = new HeldAttachment(held, options.replay, options.eofClosesInput === true);
    if (held.ended) a.finish(held.end());
    else held.attached.add(a);
    return a;
  }

  async resize(session: string, cols: number, rows: number): Promise<void> {
    const held = this.#get(session);
    if (!held.info.tty) throw new SessionError('ERR_NO_TTY', 'the session runs without a terminal', { title: 'No terminal' });
    held.session.resize(cols, rows);
  }

  async kill(session: string, signal = 'TERM'): Promise<void> {
    const held = this.#get(session);
    const name = /^\d+$/.test(signal) ? signal : `SIG${signal.toUpperCase().replace(/^SIG/, '')}`;
    if (held.ended) throw new SessionError('ERR_SESSION_EXITED', `session "${session}" has ended`, { title: 'Session ended' });
    await held.session.kill(name as NodeJS.Signals);
  }

  async remove(session: string, force?: boolean): Promise<string[]> {
    const held = this.#get(session);
    if (!held.ended && force !== true) {
      throw new SessionError('ERR_SESSION_RUNNING', `session "${session}" is running`, { title: 'Session running', suggestion: 'kill it first, or rm --force' });
    }
    if (!held.ended) await held.session.kill('SIGKILL').catch(() => {});
    for (const a of [...held.attached]) a.detach();
    clearTimeout(held.timer);
    this.#sessions.delete(held.info.id);
    return [held.info.id];
  }

  async removeExited(): Promise<string[]> {
    const ids = [...this.#sessions.values()].filter(s => s.ended).map(s => s.info.id);
    for (const id of ids) await this.remove(id);
    return ids;
  }

  /** Ends every session (the daemon is going away, and they with it). */
  close(): void {
    for (const held of this.#sessions.values()) {
      if (!held.ended) void held.session.kill('SIGHUP').catch(() => {});
      clearTimeout(held.timer);
    }
  }
}
