/**
 * Detached remote sessions and forwards as the rest of rmount sees them: a `SessionHost` is one
 * connection to rmount-agent's process host (native/agent/PROTOCOL.md, "Process host"), however
 * it was reached (an SSH exec channel, `docker exec`, a local child process). Sessions live in
 * the host on the remote and outlive every connection to it.
 */
import type { Readable, Writable } from 'node:stream';

/** `hello`: what the host is and can do. */
export interface HostHello {
  protocol: number;
  version: string;
  os: string;
  arch: string;
  pid: number;
  hostname: string;
  /** The host can give a session a terminal. */
  pty: boolean;
  /** `ports` lists listening sockets here. */
  ports: boolean;
}

/** How a session ended, or that it runs. */
export type SessionState = 'running' | 'exited' | 'killed';

/** One session as `list` and `attach` report it. */
export interface SessionInfo {
  id: string;
  name: string;
  argv: string[];
  cwd: string;
  /** RFC 3339. */
  created: string;
  pid: number;
  tty: boolean;
  state: SessionState;
  /** With state `exited`. */
  exitCode?: number;
  /** With state `killed`: a name such as `TERM`. */
  signal?: string;
  /** Clients attached now. */
  clients: number;
  /** Output bytes the ring holds (what an attach replays). */
  buffered: number;
  /** Output bytes the session produced in all. */
  total: number;
}

/** `start`. */
export interface StartRequest {
  argv: string[];
  /** Absolute remote folder; default the remote home. */
  cwd?: string;
  /** `K=V` pairs added to the host's environment. */
  env?: string[];
  /** A terminal of this size; absent or null: pipes (stdout and stderr share one). */
  tty?: { cols: number; rows: number; term?: string } | null;
  name?: string;
  /** Ring size in bytes (default 1,000,000). */
  buffer?: number;
}

/** How an attached stream ended. */
export type AttachEnd =
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: string }
  /** The host or a client closed the stream while the session runs (detach, `rm`, a lost connection). */
  | { kind: 'closed' };

/** A client attached to a session. */
export interface Attachment {
  /** The session as it was when attached. */
  readonly info: SessionInfo;
  /** The replayed ring (when asked), then live output; ends when the attachment does. */
  readonly output: Readable;
  /** What is typed into the session; ending it sends EOF (see `eofClosesInput`). */
  readonly input: Writable;
  /** Resolves once, when the attachment is over. Never rejects. */
  readonly ended: Promise<AttachEnd>;
  /** Called with the byte count each time the host skipped output this client was too slow for. */
  onDropped?: (bytes: number) => void;
  /** Detaches: the session keeps running. Idempotent. */
  detach(): void;
}

/** One connection to an agent process host. Every method rejects with `SessionError`. */
export interface SessionHost {
  /**
   * Where the sessions live: in rmount-agent's host on the remote (the default), or in the mount
   * daemon where the agent cannot run (they then end with the daemon).
   */
  readonly where?: 'agent' | 'daemon';
  hello(): Promise<HostHello>;
  start(request: StartRequest): Promise<{ id: string; name: string }>;
  list(): Promise<SessionInfo[]>;
  /**
   * Attaches to a session (id or name). With `replay` the ring comes first. With
   * `eofClosesInput`, ending `input` closes the process's stdin (sessions without a terminal).
   */
  attach(session: string, options: { replay: boolean; eofClosesInput?: boolean }): Promise<Attachment>;
  resize(session: string, cols: number, rows: number): Promise<void>;
  /** `signal`: `TERM` (default), `KILL`, `INT`, … with or without `SIG`, or a number. */
  kill(session: string, signal?: string, group?: boolean): Promise<void>;
  /** Removes one session (`force`: kill a running one first); resolves with the removed ids. */
  remove(session: string, force?: boolean): Promise<string[]>;
  /** Removes every ended session. */
  removeExited(): Promise<string[]>;
  /** Resolves once the connection is gone (closed, or the transport died). Never rejects. */
  readonly closed: Promise<void>;
  /** Closes the connection; attachments end with `closed`. Sessions keep running. */
  close(): void;
}
