/**
 * The logger the workspace VFS writes to. Library code never prints: the mount daemon hands in a
 * logger (src/fuse/log.ts did not exist when this was written; if it appears, the two shapes match).
 */
export interface Logger {
  error(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  debug(message: string, ...details: unknown[]): void;
}

/** A logger that drops everything; the default when none is given. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};
