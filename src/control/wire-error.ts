import type { WireError } from './protocol.ts';

/** An error as the control socket carries it: its stable code, message and suggestion. */
export function wireError(error: unknown): WireError {
  const e = error as { code?: unknown; message?: unknown; suggestion?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERR_EXEC',
    message: typeof e?.message === 'string' ? e.message : String(error),
    ...(typeof e?.suggestion === 'string' && e.suggestion !== '' ? { suggestion: e.suggestion } : {}),
  };
}
