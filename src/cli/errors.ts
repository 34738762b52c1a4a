import { RmountError, UsageError } from '../remote/errors.ts';
import { FsError } from '../remote/fs-error.ts';

const FS_MESSAGES: Partial<Record<string, string>> = {
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
    lines.push(`rmount: ${error.message}`);
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
