/**
 * What the agentless Docker FileClient needs from its backend (backend.ts makes it): the
 * transport is handed in, never opened by the client.
 */
import type Dockerode from 'dockerode';
import type { Session } from '../../remote/session.ts';

/** A finished command's output. */
export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** What the file client needs from its backend: the transport is handed in, never opened here. */
export interface ContainerAccess {
  container(): Dockerode.Container;
  /** Rejects only when the exec could not start (nothing ran); `code` null: it broke off midway. */
  run(argv: readonly string[], options?: { stdin?: Buffer | NodeJS.ReadableStream; user?: string }): Promise<RunResult>;
  /** Starts a long-lived command (the shells of shell-pool.ts); rejects as `run` does when it cannot start. */
  exec(argv: readonly string[]): Promise<Session>;
  home(): Promise<string>;
  workingDir(): string;
  /** True while the container runs, as far as the backend knows; asking while it is down asks for a look now. */
  up(): boolean;
  /**
   * Resolves once the container runs: at once while it does, else when it runs again (stopped,
   * restarting). Rejects when it cannot come back (removed, engine gone) or did not run again
   * within the backend's wait.
   */
  ready(): Promise<void>;
  /** Looks at the container now (after a failure) and resolves false when it is down. Never rejects. */
  running(): Promise<boolean>;
}
