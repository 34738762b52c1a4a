/**
 * The write-back journal on the control socket: the `sync` request (`rmount sync`, with
 * `--retry` and `--discard`) and the barrier every exec passes first, so that a command run on
 * the remote sees what an editor just saved through the mount.
 */
import { TimeoutError, UsageError } from '../remote/errors.ts';
import type { Logger } from '../remote/log.ts';
import type { WriteBack } from '../remote/write-back.ts';
import type { SyncAnswer, SyncRequest } from './protocol.ts';

/**
 * Answers one `sync` request. Without a journal (an older daemon, a mount that keeps none) every
 * change is on the remote already, so there is nothing to wait for, retry or drop. `signal`
 * ends the wait when the client goes away.
 */
export async function answerSync(writeBack: WriteBack | undefined, payload: unknown, signal: AbortSignal): Promise<SyncAnswer> {
  const request = (typeof payload === 'object' && payload !== null ? payload : {}) as SyncRequest;
  const retry = request.retry === true;
  const discard = request.discard === true;
  if (retry && discard) throw new UsageError('sync takes --retry or --discard, not both');
  if (writeBack === undefined) return discard ? { discarded: [] } : {};
  if (discard) return { discarded: await writeBack.discard() };
  if (retry) await writeBack.retry({ signal });
  else await writeBack.sync({ signal });
  return {};
}

/** What the exec barrier needs. */
export interface BarrierOptions {
  /** Longest wait, ms: the mount's link timeout, as an exec's wait for the link itself. */
  timeoutMs: number;
  log: Logger;
  /** Aborted when the client went away: the barrier ends at once. */
  signal: AbortSignal;
}

/**
 * Waits until the changes accepted so far are on the remote, before an exec starts. Rejects with
 * TimeoutError (ERR_TIMEOUT) when that takes longer than `timeoutMs`. Changes the remote refused
 * do not hold commands back: they are logged and the command runs (`rmount status` lists them).
 */
export async function writeBackBarrier(writeBack: WriteBack, options: BarrierOptions): Promise<void> {
  const stop = new AbortController();
  const seconds = Math.round(options.timeoutMs / 100) / 10;
  const timer = setTimeout(() => stop.abort(new TimeoutError(
    `changes saved through the mount are still on their way to the remote after ${seconds}s, so the command did not start; rmount status shows what is pending`,
    { suggestion: 'rmount status shows the pending changes and the link; rmount sync waits for them' },
  )), options.timeoutMs);
  // The journal is asked to stop too, but the race makes the limit hold whatever it does with the signal.
  const stopped = new Promise<never>((_, reject) => {
    stop.signal.addEventListener('abort', () => reject(stop.signal.reason as Error), { once: true });
  });
  const onClientGone = (): void => stop.abort(options.signal.reason);
  if (options.signal.aborted) onClientGone();
  else options.signal.addEventListener('abort', onClientGone, { once: true });
  try {
    await Promise.race([writeBack.sync({ signal: stop.signal }), stopped]);
  } catch (error) {
    if (stop.signal.aborted) throw stop.signal.reason;
    if ((error as { code?: unknown })?.code !== 'ERR_WRITEBACK_FAILED') throw error;
    options.log.warn(`exec: starting the command although the remote refused changes: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onClientGone);
  }
}
