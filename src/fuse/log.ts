/** Where the FUSE layer reports what it cannot throw to a caller. */
export interface Logger {
  /** Something failed and was answered with an errno; `err` carries the stack. */
  error(msg: string, err?: unknown): void;
  /** Something odd that the layer worked around. */
  warn(msg: string, err?: unknown): void;
  /** Detail for --debug. */
  debug(msg: string): void;
}

/** The default logger: errors and warnings to stderr, debug dropped. */
export const stderrLogger: Logger = {
  error: (msg, err) => console.error(`rmount: ${msg}`, ...(err === undefined ? [] : [err])),
  warn: (msg, err) => console.error(`rmount: ${msg}`, ...(err === undefined ? [] : [err])),
  debug: () => {},
};

/** A logger that drops everything (for tests that expect errors). */
export const silentLogger: Logger = { error: () => {}, warn: () => {}, debug: () => {} };
