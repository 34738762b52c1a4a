import { RmountError } from '../remote/errors.ts';

/** An error REPLY of the agent's process host, as the host sent it. */
export interface HostErrorBody {
  code: string;
  title?: string;
  message?: string;
  suggestion?: string;
  retryable?: boolean;
}

/**
 * A session or forward failed: the host refused (its stable code, upper-cased: `session-not-found`
 * is ERR_SESSION_NOT_FOUND), or the connection to it broke (ERR_HOST_LOST, retryable).
 */
export class SessionError extends RmountError {
  override readonly name = 'SessionError';
  readonly errno = 'EIO';
  readonly code: string;
  /** A short heading for people ("No such session"). */
  readonly title: string;
  /** Trying again later may work (the link, not the request, was at fault). */
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: ErrorOptions & { suggestion?: string; title?: string; retryable?: boolean }) {
    super(message, options);
    this.code = code;
    this.title = options?.title ?? message;
    this.retryable = options?.retryable ?? false;
  }

  /** The error a host REPLY carried. */
  static fromHost(body: HostErrorBody): SessionError {
    const code = `ERR_${String(body.code || 'host').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}`;
    return new SessionError(code, body.message ?? body.title ?? body.code, {
      ...(body.suggestion ? { suggestion: body.suggestion } : {}),
      ...(body.title ? { title: body.title } : {}),
      retryable: body.retryable === true,
    });
  }
}

/** The connection to the host is gone; what was in flight failed with this. */
export function hostLost(detail: string): SessionError {
  return new SessionError('ERR_HOST_LOST', `the connection to rmount-agent's process host was lost: ${detail}`, {
    title: 'Connection lost',
    suggestion: 'sessions keep running on the remote; run the command again once the link is back',
    retryable: true,
  });
}
