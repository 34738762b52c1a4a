import { RmountError, UsageError } from '../remote/errors.ts';
import { FsError, type ErrnoName } from '../remote/fs-error.ts';

const FS_MESSAGES: Partial<Record<ErrnoName, string>> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder not empty',
  ENOTCONN: 'the connection is gone',
  ETIMEDOUT: 'timed out',
};

/** The exit code for an error: 2 for usage errors, 1 for everything else. */
export function exitCodeForError(error: unknown): number {
  return error instanceof UsageError || (error as { code?: string })?.code?.startsWith('commander.') ? 2 : 1;
}

/**
 * The stable code of an error, as tests and scripts match it: `ERR_…` or an errno name; undefined
 * when it has none (a plain Error, commander's own codes).
 */
export function stableCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(ERR_[A-Z0-9_]+|E[A-Z0-9]+)$/.test(code) ? code : undefined;
}

/**
 * Renders an error for stderr: one line naming what went wrong with its stable code, then the
 * suggestion; with `debug`, the stack and the cause chain.
 */
export function renderError(error: unknown, debug = false): string {
  const lines: string[] = [];
  if (error instanceof RmountError) {
    lines.push(`rmount: ${error.message} [${error.code}]`);
    if (error.suggestion) lines.push(...error.suggestion.split('\n').map(l => `  ${l}`));
  } else if (error instanceof FsError) {
    const what = FS_MESSAGES[error.code] ?? error.code;
    lines.push(`rmount: ${error.syscall}${error.path === undefined ? '' : ` ${error.path}`}: ${what} [${error.code}]`);
  } else if (error instanceof Error) {
    // Errors of a layer that does not extend RmountError yet still carry a stable code.
    const code = stableCode(error);
    lines.push(`rmount: ${error.message}${code === undefined ? '' : ` [${code}]`}`);
    const suggestion = (error as { suggestion?: unknown }).suggestion;
    if (typeof suggestion === 'string' && suggestion !== '') lines.push(...suggestion.split('\n').map(l => `  ${l}`));
  } else {
    lines.push(`rmount: ${String(error)}`);
  }
  if (debug && error instanceof Error) {
    let e: unknown = error;
    while (e instanceof Error) {
      lines.push(e.stack ?? String(e));
      e = e.cause;
      if (e !== undefined) lines.push('caused by:');
    }
  }
  return lines.join('\n');
}
