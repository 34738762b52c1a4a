import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchSubscription } from '../remote/file-client.ts';

/** How long the end of a remote command waits for the watch's barrier before flushing the caches instead. */
export const BARRIER_TIMEOUT_MS = 10_000;

/** What the end of a remote command settles: the mount's caches and the kernel's. */
export interface SettledCaches {
  /** Nothing cached from before the command answers unless the watch vouches for it. */
  remoteCommandEnded(): void;
  /** Forgets everything cached here and tells the kernel to drop what it holds (queued). */
  flushCaches(): void;
  /** Resolves once the kernel has dropped what is queued (bounded). */
  kernelSettled(): Promise<void>;
}

/**
 * Settles the caches after a remote command the mount ran (rmount exec, a path stub), before its
 * end is reported: a local tool run next must see what the command changed. Through a watch,
 * its barrier says every change was handed over; where the barrier cannot answer in time, or the
 * watch is not live (reconnecting, or lost), everything is forgotten here and in the kernel, which
 * keeps names and pages for up to 60 s from when the watch was live, unasked.
 */
export async function settleAfterCommand(caches: SettledCaches, watch: Pick<WatchSubscription, 'barrier'> | undefined, timeoutMs = BARRIER_TIMEOUT_MS): Promise<void> {
  caches.remoteCommandEnded();
  // No watch: the kernel drops what it may hold from before the command (queued just now).
  if (watch === undefined) return caches.kernelSettled();
  const waited = new AbortController();
  const timer = sleep(timeoutMs, false, { ref: false, signal: waited.signal }).catch(() => false);
  const told = await Promise.race([watch.barrier().catch(() => false), timer]);
  waited.abort();
  if (!told) caches.flushCaches();
  await caches.kernelSettled();
}
