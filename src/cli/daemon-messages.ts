/**
 * What a mount daemon started by `rmount mount` tells the parent that waits for it, on the ready
 * fd: one JSON object a line, any number of replay reports, then the ready message, then the fd
 * is closed. The parent draws the reports and returns on the ready message.
 *
 *   {"replay":{"total":40,"pendingOps":28,"pendingBytes":1258291,"refused":0,"done":false}}
 *   {"replay":{"total":40,"pendingOps":0,"pendingBytes":0,"refused":0,"done":true}}
 *   {"ok":true}
 */
import type { Readable } from 'node:stream';
import type { ReplayProgress } from '../mount/daemon.ts';
import { FdWriter } from './fd-writer.ts';

/** The daemon's last message: mounted, or why not. */
export interface ReadyMessage {
  readonly ok: boolean;
  readonly error?: string;
  readonly code?: string;
}

/** How the replay of an earlier mount's journal goes. */
export interface ReplayMessage {
  readonly replay: ReplayProgress;
}

/** One line on the ready fd. */
export type DaemonMessage = ReplayMessage | ReadyMessage;

/**
 * At most one replay report in this many milliseconds goes on (the final one always). The journal
 * reports every 250 ms; a gap a little under that keeps timer jitter from dropping every other one.
 */
export const REPLAY_INTERVAL_MS = 200;

/** One message as its line on the fd. */
export function renderDaemonMessage(m: DaemonMessage): string {
  return `${JSON.stringify(m)}\n`;
}

/**
 * Cuts what arrives on the ready fd into messages. A chunk may hold several lines or end in the
 * middle of one; a line that is no message of ours is skipped, so a newer daemon may say more.
 */
export class DaemonMessageReader {
  #partial = '';

  /** The messages `text` completes. */
  push(text: string): DaemonMessage[] {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop()!;
    return lines.flatMap(parseDaemonMessage);
  }

  /** At the end of the stream: a last line that had no newline. */
  end(): DaemonMessage[] {
    const rest = this.#partial;
    this.#partial = '';
    return parseDaemonMessage(rest);
  }
}

/**
 * The parent's side: hands each replay report on the ready fd to `onReplay` and resolves with
 * the ready message, which comes last; undefined when the stream ended or failed without one.
 */
export function readReadyMessage(ready: Readable, onReplay: (p: ReplayProgress) => void): Promise<ReadyMessage | undefined> {
  return new Promise(resolveMessage => {
    const reader = new DaemonMessageReader();
    const take = (messages: DaemonMessage[]): void => {
      for (const m of messages) {
        if ('replay' in m) {
          onReplay(m.replay);
          continue;
        }
        resolveMessage(m);
        // The daemon closes its end next; nothing after the ready message is waited for.
        ready.destroy();
        return;
      }
    };
    ready.setEncoding('utf8');
    ready.on('data', (text: string) => take(reader.push(text)));
    ready.on('end', () => {
      take(reader.end());
      resolveMessage(undefined);
    });
    ready.on('error', () => resolveMessage(undefined));
  });
}

function parseDaemonMessage(line: string): DaemonMessage[] {
  if (line.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return [];
  }
  if (typeof value !== 'object' || value === null) return [];
  const v = value as Record<string, unknown>;
  if (typeof v['ok'] === 'boolean') return [v as unknown as ReadyMessage];
  const r = v['replay'] as Record<string, unknown> | null | undefined;
  if (typeof r !== 'object' || r === null) return [];
  const numbers = ['total', 'pendingOps', 'pendingBytes', 'refused'].map(k => r[k]);
  if (!numbers.every(n => typeof n === 'number' && Number.isFinite(n)) || typeof r['done'] !== 'boolean') return [];
  const [total, pendingOps, pendingBytes, refused] = numbers as number[];
  return [{ replay: { total: total!, pendingOps: pendingOps!, pendingBytes: pendingBytes!, refused: refused!, done: r['done'] } }];
}

/**
 * Lets through the first report, the final one, and between them one every `intervalMs` at
 * most, and only when something moved: the journal reports on a timer, changed or not.
 */
export function throttleReplay(report: (p: ReplayProgress) => void, intervalMs = REPLAY_INTERVAL_MS, now: () => number = Date.now): (p: ReplayProgress) => void {
  let last: ReplayProgress | undefined;
  let lastAt = 0;
  return p => {
    if (!p.done && last !== undefined) {
      if (now() - lastAt < intervalMs) return;
      if (p.pendingOps === last.pendingOps && p.pendingBytes === last.pendingBytes && p.refused === last.refused) return;
    }
    last = p;
    lastAt = now();
    report(p);
  };
}

/** The daemon's end of the ready fd. A parent that went away ends the messages, never the mount. */
export class DaemonMessageWriter {
  readonly #out: FdWriter;

  constructor(fd: number) {
    this.#out = new FdWriter(fd);
  }

  send(m: DaemonMessage): void {
    this.#out.write(renderDaemonMessage(m));
  }

  close(): void {
    this.#out.close();
  }
}
