/**
 * The one logger every layer writes to; library code never prints. The daemon makes one (a
 * timestamped stream, src/cli/logger.ts) and hands it down to the VFS, the FUSE layer and the
 * control socket. `details` are errors (logged with their stack) or plain values.
 */
export interface Logger {
  /** Something failed and was answered with an errno or an error reply. */
  error(message: string, ...details: unknown[]): void;
  /** Something odd that was worked around. */
  warn(message: string, ...details: unknown[]): void;
  /** What a user running the daemon wants to see (mounted, reconnected). */
  info(message: string, ...details: unknown[]): void;
  /** Detail for -o debug; dropped otherwise. */
  debug(message: string, ...details: unknown[]): void;
}

/** A logger that drops everything; the default when none is given, and for tests that expect errors. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

/** Errors and warnings to stderr with an `rmount:` prefix; info and debug dropped. */
export const stderrLogger: Logger = {
  error: (message, ...details) => console.error(`rmount: ${message}`, ...details),
  warn: (message, ...details) => console.error(`rmount: ${message}`, ...details),
  info() {},
  debug() {},
};
