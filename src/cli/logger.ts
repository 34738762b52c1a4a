import type { Logger } from '../remote/log.ts';

/** A logger writing timestamped lines to a stream (the daemon's log file, or stderr with -f). */
export function streamLogger(out: { write(text: string): unknown }, debug: boolean): Logger {
  const line = (level: string, message: string, details: unknown[]): void => {
    const extra = details.map(d => (d instanceof Error ? (d.stack ?? d.message) : typeof d === 'string' ? d : JSON.stringify(d))).join(' ');
    out.write(`${new Date().toISOString()} ${level} ${message}${extra === '' ? '' : ` ${extra}`}\n`);
  };
  return {
    error: (m, ...d) => line('error', m, d),
    warn: (m, ...d) => line('warn', m, d),
    info: (m, ...d) => line('info', m, d),
    debug: debug ? (m, ...d) => line('debug', m, d) : () => {},
  };
}
