import type { ErrnoName } from './fs-error.ts';

/**
 * Connection and usage errors. Few, each with a stable `code` that tests assert on, a one-line
 * message naming what was wrong, and a `suggestion` naming what to do. `errno` is what a mount
 * answers when the error surfaces inside a filesystem operation.
 */
export abstract class RmountError extends Error {
  abstract readonly code: string;
  abstract readonly errno: ErrnoName;
  readonly suggestion: string | undefined;
  constructor(message: string, options?: ErrorOptions & { suggestion?: string }) {
    super(message, options);
    this.suggestion = options?.suggestion;
  }
}

type Options = ErrorOptions & { suggestion?: string };

/** The command line or a destination string is malformed. CLI exit code 2. */
export class UsageError extends RmountError {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
  readonly errno = 'EINVAL';
}

/** DNS, TCP connect, handshake or a closed engine socket: the remote could not be reached. */
export class UnreachableError extends RmountError {
  override readonly name = 'UnreachableError';
  readonly code = 'ERR_UNREACHABLE';
  readonly errno = 'ENOTCONN';
}

/** Connecting or an operation took longer than its limit. */
export class TimeoutError extends RmountError {
  override readonly name = 'TimeoutError';
  readonly code = 'ERR_TIMEOUT';
  readonly errno = 'ETIMEDOUT';
}

/** Why a host key was refused. */
export type HostKeyProblem = 'unknown' | 'changed' | 'revoked';

/** The server's host key is unknown, changed or revoked; carries its SHA256 fingerprint. */
export class HostKeyError extends RmountError {
  override readonly name = 'HostKeyError';
  readonly code = 'ERR_HOST_KEY';
  readonly errno = 'EACCES';
  constructor(
    message: string,
    readonly problem: HostKeyProblem,
    readonly host: string,
    readonly fingerprint: string,
    options?: Options,
  ) {
    super(message, options);
  }
}

/** Every authentication method was tried and refused. */
export class AuthError extends RmountError {
  override readonly name = 'AuthError';
  readonly code = 'ERR_AUTH';
  readonly errno = 'EACCES';
}

/** The remote path, container or service does not exist. */
export class NotFoundError extends RmountError {
  override readonly name = 'NotFoundError';
  readonly code = 'ERR_NOT_FOUND';
  readonly errno = 'ENOENT';
}

/** The remote refused an operation for lack of rights. */
export class PermissionError extends RmountError {
  override readonly name = 'PermissionError';
  readonly code = 'ERR_PERMISSION';
  readonly errno = 'EACCES';
}

/** The remote cannot do what was asked (no sftp subsystem, no shell, no build for its platform). */
export class UnsupportedError extends RmountError {
  override readonly name = 'UnsupportedError';
  readonly code = 'ERR_UNSUPPORTED';
  readonly errno = 'ENOSYS';
}

/** The container or service exists but is not in a usable state (stopped, paused, several replicas). */
export class StateError extends RmountError {
  override readonly name = 'StateError';
  readonly code = 'ERR_STATE';
  readonly errno = 'ENOTCONN';
}

/** The server allows no forwarding channels (sshd's AllowTcpForwarding / AllowStreamLocalForwarding no). */
export class ForwardRefusedError extends RmountError {
  override readonly name = 'ForwardRefusedError';
  readonly code = 'ERR_FORWARD_REFUSED';
  readonly errno = 'EACCES';
}
