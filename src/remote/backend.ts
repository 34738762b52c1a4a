import type { Duplex } from 'node:stream';
/**
 * A connection to one remote workspace. Made by `openBackend` (src/backends/open.ts) from a
 * Destination; `start` connects. After `start` resolves, every method is safe for concurrent use.
 */
import type { Destination } from './destination.ts';
import type { FileClient } from './file-client.ts';
import type { PlatformInfo } from './platform.ts';
import type { ExecOptions, Session } from './session.ts';

/**
 * Where a backend's link is: `connecting` until `start` resolves, `ready` while usable,
 * `reconnecting` after it died and while it is being made again (with back-off), `closed` for good
 * (closed by its owner, `start` failed, or the remote is gone: a removed container).
 */
export type LinkState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** A snapshot of a backend's link, for `rmount status` and the log. */
export interface LinkHealth {
  state: LinkState;
  /** ISO time of the last state change. */
  since: string;
  /** ISO time the link went down, while it is `reconnecting`. */
  downSince?: string;
  /** How many times the link came back after a loss. */
  reconnects: number;
  /** The last error the link saw: the loss, or the last failed attempt (a refused host key…). */
  lastError?: { code: string; message: string };
}

export interface Backend {
  /** Which kind of remote this is. */
  readonly type: Destination['type'];
  /** The destination this backend was made for. */
  readonly destination: Destination;
  /** A short human form of the remote ("user@host:port", "docker://web"), for messages and status. */
  readonly addr: string;
  /** The remote user, when known ('' otherwise). */
  readonly user: string;
  /**
   * Connects (and authenticates). Rejects with UnreachableError, TimeoutError, HostKeyError,
   * AuthError, NotFoundError or StateError; aborting `signal` rejects with TimeoutError.
   */
  start(signal?: AbortSignal): Promise<void>;
  /** True while the link is `ready`. */
  isConnected(): boolean;
  /** The last error the link saw (a failed connect, the loss, a failed reconnect), if any. */
  lastError(): Error | undefined;
  /**
   * The link's health: its state, since when, how long it has been down and why. Optional: a
   * backend without a link that can die leaves it out, and {@link linkHealth} answers `ready`.
   */
  health?(): LinkHealth;
  /**
   * Resolves once the link is `ready` (at once when it is); while it is `connecting` or
   * `reconnecting`, waits for the next `ready`. Rejects with the recorded error when the link is
   * or becomes `closed`, and with TimeoutError when `signal` aborts first. Waiting counts as a
   * {@link kick}. Optional, like `health`: see {@link waitLinkReady}.
   */
  waitReady?(signal?: AbortSignal): Promise<void>;
  /**
   * A caller needs the link while it is down: start a reconnect attempt now instead of at the end
   * of the back-off wait, when the last attempt is over a second old. Never waits; a no-op while
   * the link is ready or an attempt runs.
   */
  kick?(): void;
  /**
   * A connection from the remote's side to `target` (a TCP host and port there, or a UNIX socket
   * path), over the backend's own forwarding where it has one (SSH's direct-tcpip and
   * direct-streamlocal channels). Optional: forwards otherwise go through rmount-agent.
   * @throws ForwardRefusedError when the server does not allow forwarding at all (the caller then
   *   uses the agent); another error when this one connection failed (refused by the target).
   */
  dial?(target: DialTarget): Promise<Duplex>;
  /**
   * Runs `argv` on the remote. Arguments travel as an argv: where the remote needs a shell line,
   * each one is quoted, never spliced. Rejects when the command cannot be started. While the
   * link is down it waits for it until `options.signal` aborts (TimeoutError); without a signal it
   * rejects at once. A command whose link dies under it ends with exit code 255 and a
   * "connection to … lost" line on its stderr, as ssh does.
   */
  exec(argv: readonly string[], options?: ExecOptions): Promise<Session>;
  /**
   * The file client for this remote, made on first call and shared afterwards (it may start a
   * long-lived channel or worker on the remote). Rejects with UnsupportedError when the remote
   * offers no way to reach its files.
   */
  files(): Promise<FileClient>;
  /** The remote's platform in GOOS/GOARCH words; fields it cannot find out are ''. */
  detectPlatform(): Promise<PlatformInfo>;
  /**
   * The destination's path as an absolute remote path (`~` and relative paths resolved against
   * the home folder; no path means home). Does not check that it exists.
   */
  resolvePath(path?: string): Promise<string>;
  /** Ends the connection and everything made from it. Idempotent. */
  close(): Promise<void>;
}

/** Where `Backend.dial` connects: a TCP host and port on the remote's side, or a socket path there. */
export type DialTarget = { host: string; port: number } | { path: string };

/** The link health of any backend: its own, or `ready`/`closed` from `isConnected` when it has none (local). */
export function linkHealth(backend: Backend): LinkHealth {
  if (typeof backend.health === 'function') return backend.health();
  const h: LinkHealth = { state: backend.isConnected() ? 'ready' : 'closed', since: new Date(0).toISOString(), reconnects: 0 };
  const e = backend.lastError() as (Error & { code?: unknown }) | undefined;
  if (e !== undefined) h.lastError = { code: typeof e.code === 'string' ? e.code : 'ERR_UNREACHABLE', message: e.message };
  return h;
}

/** `backend.waitReady(signal)`, or for a backend without one: resolves when connected, else rejects with its last error. */
export async function waitLinkReady(backend: Backend, signal?: AbortSignal): Promise<void> {
  if (typeof backend.waitReady === 'function') return backend.waitReady(signal);
  if (!backend.isConnected()) throw backend.lastError() ?? new Error(`${backend.addr}: not connected`);
}
