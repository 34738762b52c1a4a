/**
 * A connection to one remote workspace. Made by `openBackend` (src/backends/open.ts) from a
 * Destination; `start` connects. After `start` resolves, every method is safe for concurrent use.
 */
import type { Destination } from './destination.ts';
import type { FileClient } from './file-client.ts';
import type { PlatformInfo } from './platform.ts';
import type { ExecOptions, Session } from './session.ts';

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
  /** True between a successful `start` and the connection's end. */
  isConnected(): boolean;
  /** Why the connection ended or failed, if it did. */
  lastError(): Error | undefined;
  /** How often the owner should call `sendKeepAlive`, in ms; 0 when the transport needs none. */
  readonly keepAliveInterval: number;
  /** Proves the connection is alive; rejects (and marks it dead) when it is not. */
  sendKeepAlive(): Promise<void>;
  /**
   * Runs `argv` on the remote. Arguments travel as an argv: where the remote needs a shell line,
   * each one is quoted, never spliced. Rejects when the command cannot be started.
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
