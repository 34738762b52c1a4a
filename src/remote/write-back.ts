/**
 * The face of a mount's write-back journal that the control socket, the daemon and the CLI use:
 * barriers, the failed operations a user resolves, and what `rmount status` shows. The journal
 * itself (src/writeback) sits between the VFS and the FileClient.
 */

import { RmountError } from './errors.ts';

/** A journaled operation the remote refused; its data stays in the journal until retried or discarded. */
export interface FailedOperation {
  /** What it was: put (a file's content and attributes), mkdir, unlink, rename, symlink, setattr. */
  readonly op: string;
  /** The remote path it was for (the target of a rename). */
  readonly path: string;
  /** The errno name the remote answered. */
  readonly code: string;
  /** The remote's message. */
  readonly message: string;
  /** When it failed, ISO 8601. */
  readonly at: string;
}

/** Two versions of one file kept side by side: ours at the name, the remote's beside it. */
export interface Conflict {
  readonly path: string;
  /** Where the remote's version now is. */
  readonly keptAs: string;
  readonly at: string;
}

/** What the journal holds, as `rmount status` and the control socket report it. */
export interface WriteBackStatus {
  /** on: changes are acknowledged once journaled; off: close waits for the remote. */
  readonly mode: 'on' | 'off';
  /** The journal's folder on local disk. */
  readonly journal: string;
  /** Operations accepted and not yet on the remote (failed ones included). */
  readonly pendingOps: number;
  /** Bytes of file content not yet on the remote. */
  readonly pendingBytes: number;
  /** Age of the oldest pending operation in milliseconds; 0 when none. */
  readonly oldestAgeMs: number;
  /** Operations on their way now. */
  readonly inFlight: number;
  /** Operations sent since the mount started. */
  readonly sent: number;
  readonly failed: readonly FailedOperation[];
  /** Conflicts since the mount started (the latest 100). */
  readonly conflicts: readonly Conflict[];
  /** Writers wait while pending bytes are over this (`-o writeback_max`). */
  readonly maxBytes: number;
}

/** How far a barrier has come, for a progress bar. */
export interface SyncProgress {
  readonly pendingOps: number;
  readonly pendingBytes: number;
}

/** A mount's write-back journal, as the control socket and the daemon drive it. */
export interface WriteBack {
  /**
   * Resolves once every operation accepted before the call is on the remote. Rejects with a
   * {@link WriteBackFailedError} listing them when some were refused (they stay in the journal).
   * Waits through a lost link; `signal` bounds the wait.
   */
  sync(options?: { signal?: AbortSignal; onProgress?: (left: SyncProgress) => void }): Promise<void>;
  /** Sends the refused operations again, then waits as `sync` does. */
  retry(options?: { signal?: AbortSignal }): Promise<void>;
  /** Drops the refused operations and their data; resolves with their paths. */
  discard(): Promise<string[]>;
  status(): WriteBackStatus;
}

/** Some journaled operations were refused by the remote; `failed` lists them. */
export class WriteBackFailedError extends RmountError {
  override readonly name = 'WriteBackFailedError';
  readonly code = 'ERR_WRITEBACK_FAILED';
  readonly errno = 'EIO';
  constructor(readonly failed: readonly FailedOperation[], options?: ErrorOptions) {
    super(`${failed.length} change(s) the remote refused are kept in the journal: ${failed.slice(0, 5).map(f => `${f.op} ${f.path} (${f.code})`).join(', ')}${failed.length > 5 ? ', …' : ''}`, {
      ...options,
      suggestion: 'fix the cause on the remote (permissions, space), then `rmount sync --retry`; or drop them with `rmount sync --discard`',
    });
  }
}
