/**
 * How the CLI shows a mount's write-back journal: the block `rmount status` prints, the line for
 * a journal left behind by a mount that is gone, and the one-line progress `rmount sync` and
 * `rmount unmount` draw on a terminal while they wait, from `status` polled on its own connection.
 */
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MountStatusPayload } from '../control/protocol.ts';
import type { WriteBackStatus } from '../remote/write-back.ts';
import type { JournalSummary } from '../writeback/journal-dir.ts';
import { formatBytes, formatUptime } from './format.ts';

/** How often a waiting command asks the daemon how far the journal has come. */
export const POLL_INTERVAL_MS = 250;

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Operations still to send: refused ones wait for `--retry` and are not on their way. */
export function unsent(wb: WriteBackStatus): number {
  return Math.max(0, wb.pendingOps - wb.failed.length);
}

/** The write-back block under a mount's line in `rmount status`, indented. */
export function renderWriteBack(wb: WriteBackStatus): string[] {
  const head = wb.pendingOps === 0
    ? `all sent (${wb.sent} since the mount)`
    : [
      `${plural(wb.pendingOps, 'change')} (${formatBytes(wb.pendingBytes)}) pending`,
      `oldest ${formatUptime(Math.round(wb.oldestAgeMs / 1000))}`,
      `${wb.inFlight} in flight`,
      ...(wb.failed.length > 0 ? [`${wb.failed.length} refused`] : []),
    ].join(', ');
  const lines = [`  write-back ${wb.mode}: ${head}`];
  for (const f of wb.failed) lines.push(`    refused: ${f.op} ${f.path} ${f.code}${f.message === '' ? '' : ` (${f.message})`}`);
  if (wb.failed.length > 0) lines.push('    (rmount sync --retry sends them again, rmount sync --discard drops them)');
  for (const c of wb.conflicts) lines.push(`    conflict: ${c.path}: the remote's version is kept as ${c.keptAs}`);
  return lines;
}

/** A journal whose mount is gone, as `rmount status` lists it after the mounts. */
export function renderWaitingJournal(j: JournalSummary): string {
  const refused = j.failedOps > 0 ? ` (${j.failedOps} refused)` : '';
  return `journal waiting for ${j.meta.destination} ${j.meta.remotePath}: ${plural(j.pendingOps, 'change')}${refused}; mount it again to send them`;
}

/** The progress line while waiting on `mountpoint`'s journal; undefined when it has nothing to show. */
export function renderProgress(mountpoint: string, s: MountStatusPayload): string | undefined {
  const wb = s.writeBack;
  if (wb === undefined) return undefined;
  const left = unsent(wb);
  const parts = [`${mountpoint}: ${plural(left, 'change')} (${formatBytes(wb.pendingBytes)}) to send`];
  if (wb.inFlight > 0) parts.push(`${wb.inFlight} in flight`);
  if (wb.failed.length > 0) parts.push(`${wb.failed.length} refused`);
  // Why nothing moves: the journal waits for the link.
  if (s.health !== 'ready') parts.push(`link ${s.health}`);
  return parts.join(', ');
}

/**
 * One line redrawn in place on a terminal (carriage return, erase to end of line); on anything
 * else it draws nothing, so logs and pipes get no control characters.
 */
export class ProgressLine {
  readonly #out: Writable;
  readonly #tty: boolean;
  #shown = '';

  constructor(out: Writable) {
    this.#out = out;
    this.#tty = (out as { isTTY?: boolean }).isTTY === true;
  }

  /** True when lines are drawn at all. */
  get drawing(): boolean {
    return this.#tty;
  }

  draw(text: string): void {
    if (!this.#tty || text === this.#shown) return;
    const width = (this.#out as { columns?: number }).columns ?? 0;
    // A line longer than the terminal wraps, and the carriage return would then redraw only its tail.
    const fitted = width > 1 && text.length >= width ? `${text.slice(0, width - 2)}…` : text;
    this.#out.write(`\r\x1b[K${fitted}`);
    this.#shown = text;
  }

  clear(): void {
    if (!this.#tty || this.#shown === '') return;
    this.#out.write('\r\x1b[K');
    this.#shown = '';
  }
}

/** A `status` poll on its own connection to a mount's control socket. */
export interface StatusPoller {
  /** The last answer, if any. */
  readonly last: MountStatusPayload | undefined;
  /** When the last answer came (ms since the epoch; 0: none yet). */
  readonly lastAt: number;
  /** Resolves once the daemon stops answering (its socket went away) or `stop` was called. */
  readonly ended: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Asks for `status` every `intervalMs` on a connection of its own, so it never waits behind the
 * request it reports on (a connection answers one envelope at a time). Never rejects: a daemon
 * that goes away ends the poll.
 */
export function pollStatus(socketPath: string, onStatus: (s: MountStatusPayload) => void, intervalMs = POLL_INTERVAL_MS): StatusPoller {
  const stopper = new AbortController();
  let close = (): void => {};
  const state = { last: undefined as MountStatusPayload | undefined, lastAt: 0 };
  const ended = (async () => {
    const { connectControl } = await import('../control/client.ts');
    try {
      const client = await connectControl(socketPath, { timeoutMs: 3000 });
      close = () => client.close();
      if (stopper.signal.aborted) return client.close();
      try {
        while (!stopper.signal.aborted) {
          const s = await client.request<MountStatusPayload>('status');
          state.last = s;
          state.lastAt = Date.now();
          onStatus(s);
          await sleep(intervalMs, undefined, { signal: stopper.signal });
        }
      } finally {
        client.close();
      }
    } catch {
      // The daemon went away (or never answered): that ends the poll, it is no failure.
    }
  })();
  return {
    get last() { return state.last; },
    get lastAt() { return state.lastAt; },
    ended,
    async stop() {
      stopper.abort();
      close();
      await ended;
    },
  };
}
