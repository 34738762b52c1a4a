/**
 * How the CLI shows a mount's write-back journal: the block `rmount status` prints, the line for
 * a journal left behind by a mount that is gone, and the one-line progress `rmount sync`,
 * `rmount unmount` and the replay at `rmount mount` draw on a terminal while they wait (sync and
 * unmount from `status` polled on its own connection).
 */
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MountStatusPayload } from '../control/protocol.ts';
import type { ReplayProgress } from '../mount/daemon.ts';
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

/** What is left of a journal while a command waits on it: the one thing every progress line says. */
export interface Backlog {
  /** Changes still on their way (refused ones excluded). */
  readonly toSend: number;
  /** Bytes of file content not on the remote yet. */
  readonly bytes: number;
  readonly inFlight?: number;
  readonly refused?: number;
  /** The link's state when it is not ready. */
  readonly link?: string;
  /** How many changes there were when the wait began; draws a bar of how many are sent. */
  readonly total?: number;
}

const BAR_WIDTH = 20;

/** The body of a progress line: `[####----] 12/40, 28 changes (1.2 MiB) to send, 3 in flight`. */
export function renderBacklog(b: Backlog): string {
  const parts = [`${plural(b.toSend, 'change')} (${formatBytes(b.bytes)}) to send`];
  if (b.total !== undefined && b.total > 0) {
    const done = Math.min(b.total, Math.max(0, b.total - b.toSend - (b.refused ?? 0)));
    const filled = Math.round((done / b.total) * BAR_WIDTH);
    parts[0] = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${done}/${b.total}, ${parts[0]}`;
  }
  if (b.inFlight !== undefined && b.inFlight > 0) parts.push(`${b.inFlight} in flight`);
  if (b.refused !== undefined && b.refused > 0) parts.push(`${b.refused} refused`);
  // Why nothing moves: the journal waits for the link.
  if (b.link !== undefined) parts.push(`link ${b.link}`);
  return parts.join(', ');
}

/** The progress line while waiting on `mountpoint`'s journal; undefined when it has nothing to show. */
export function renderProgress(mountpoint: string, s: MountStatusPayload): string | undefined {
  const wb = s.writeBack;
  if (wb === undefined) return undefined;
  return `${mountpoint}: ${renderBacklog({
    toSend: unsent(wb), bytes: wb.pendingBytes, inFlight: wb.inFlight, refused: wb.failed.length,
    ...(s.health === 'ready' ? {} : { link: s.health }),
  })}`;
}

/** The progress line of the replay `rmount mount` waits for, for the mount on `mountpoint`. */
export function renderReplay(mountpoint: string, p: ReplayProgress): string {
  const toSend = Math.max(0, p.pendingOps - p.refused);
  return `${mountpoint}: replaying an earlier mount's journal ${renderBacklog({ toSend, bytes: p.pendingBytes, refused: p.refused, total: p.total })}`;
}

/** The line that stays once the replay is over. */
export function renderReplayed(mountpoint: string, p: ReplayProgress): string {
  const head = `${mountpoint}: replayed`;
  const left = 'left in the journal by an earlier mount';
  if (p.pendingOps === 0) return `${head} ${plural(p.total, 'change')} ${left}`;
  const sent = Math.max(0, p.total - p.pendingOps);
  const refused = p.refused > 0 ? `, ${p.refused} refused by the remote (rmount status lists them)` : '';
  return `${head} ${sent} of ${plural(p.total, 'change')} ${left}; ${p.pendingOps} stay there${refused}`;
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
    this.#out.write(`\r\x1b[K${this.#fit(text)}`);
    this.#shown = text;
  }

  /** Writes whole lines (a log's) above the drawn line, which is drawn again under them. */
  print(lines: string): void {
    if (!this.#tty || this.#shown === '') {
      this.#out.write(lines);
      return;
    }
    this.#out.write(`\r\x1b[K${lines}${this.#fit(this.#shown)}`);
  }

  clear(): void {
    if (!this.#tty || this.#shown === '') return;
    this.#out.write('\r\x1b[K');
    this.#shown = '';
  }

  #fit(text: string): string {
    const width = (this.#out as { columns?: number }).columns ?? 0;
    // A line longer than the terminal wraps, and the carriage return would then redraw only its tail.
    return width > 1 && text.length >= width ? `${text.slice(0, width - 2)}…` : text;
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

/**
 * The replay as `rmount mount` shows it on `out`: a bar redrawn on a terminal while it runs, and
 * on a terminal or not, one line when it is over.
 */
export class ReplayView {
  readonly #out: Writable;
  readonly #line: ProgressLine;
  readonly #mountpoint: string;

  constructor(out: Writable, mountpoint: string) {
    this.#out = out;
    this.#line = new ProgressLine(out);
    this.#mountpoint = mountpoint;
  }

  /** True when the bar is drawn at all (`out` is a terminal). */
  get drawing(): boolean {
    return this.#line.drawing;
  }

  update(p: ReplayProgress): void {
    if (!p.done) {
      this.#line.draw(renderReplay(this.#mountpoint, p));
      return;
    }
    this.#line.clear();
    this.#out.write(`rmount: ${renderReplayed(this.#mountpoint, p)}\n`);
  }

  /** Writes whole lines above the bar (see ProgressLine.print). */
  print(lines: string): void {
    this.#line.print(lines);
  }

  /** Takes an unfinished bar away, before an error is printed or the command returns. */
  close(): void {
    this.#line.clear();
  }
}
