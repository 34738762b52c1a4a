import type { FailedOperation } from '../remote/write-back.ts';
import type { WireError } from './protocol.ts';

/**
 * An error as the control socket carries it: its stable code, message and suggestion, and the
 * refused operations of a WriteBackFailedError, so `rmount sync` can list them.
 */
export function wireError(error: unknown): WireError {
  const e = error as { code?: unknown; message?: unknown; suggestion?: unknown; failed?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERR_EXEC',
    message: typeof e?.message === 'string' ? e.message : String(error),
    ...(typeof e?.suggestion === 'string' && e.suggestion !== '' ? { suggestion: e.suggestion } : {}),
    ...(Array.isArray(e?.failed) ? { failed: e.failed as FailedOperation[] } : {}),
  };
}
