import type { Logger as FuseLogger } from '../fuse/log.ts';

/**
 * The logger the workspace VFS writes to; library code never prints. It extends the FUSE layer's
 * logger (src/fuse/log.ts) with `info` and any number of details, so the one logger the daemon
 * makes serves both layers.
 */
export interface Logger extends FuseLogger {
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
