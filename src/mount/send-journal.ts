/**
 * Waiting for the write-back journal to be on the remote at unmount and, before a mount answers,
 * for what an earlier mount left in it: as long as sends make progress, never longer.
 */
import type { WriteBack } from '../remote/write-back.ts';

/** How the wait ended: all sent, some refused by the remote (they stay), or no progress for too long. */
export type SendOutcome = { outcome: 'sent' } | { outcome: 'refused' | 'stalled'; error: Error };

/** How often progress is looked at (and `onTick` called). */
const TICK_MS = 250;

/**
 * Waits until the journal holds nothing more to send. No change in the pending operations, their
 * bytes or the count sent for `stallMs` ends the wait: a link that stays down leaves the rest in
 * the journal, which is safe, as nothing is dropped.
 */
export async function sendJournal(writeBack: WriteBack, stallMs: number, onTick?: () => void): Promise<SendOutcome> {
  const stalled = new AbortController();
  const mark = (): string => {
    const s = writeBack.status();
    return `${s.pendingOps}/${s.pendingBytes}/${s.sent}`;
  };
  let last = mark();
  let since = Date.now();
  const timer = setInterval(() => {
    onTick?.();
    const now = mark();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since > stallMs) {
      stalled.abort(new Error(`no progress for ${Math.round(stallMs / 1000)} s`));
    }
  }, TICK_MS);
  try {
    await writeBack.sync({ signal: stalled.signal });
    return { outcome: 'sent' };
  } catch (error) {
    return { outcome: stalled.signal.aborted ? 'stalled' : 'refused', error: error instanceof Error ? error : new Error(String(error)) };
  } finally {
    clearInterval(timer);
  }
}
