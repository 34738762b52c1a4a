/** The events of rmount-agent's watch extension, pushed by the server as unsolicited packets. */

import type { WatchEvent, WatchEventKind } from '../remote/file-client.ts';
import { RMOUNT_EXT, WATCH_MASK } from './constants.ts';
import type { PacketReader } from './packet.ts';

/** One watch subscription: its root as events name it (no trailing slash) and who hears them. */
export interface WatchTarget {
  base: string;
  listener: (events: WatchEvent[]) => void;
  /** Set for good once the agent said a folder below could not be watched (see WatchSubscription.live). */
  unwatched: boolean;
}

const KINDS: ReadonlyArray<[number, WatchEventKind]> = [
  [WATCH_MASK.CREATE, 'create'], [WATCH_MASK.REMOVE, 'remove'], [WATCH_MASK.MODIFY, 'modify'],
  [WATCH_MASK.ATTRIB, 'attrib'], [WATCH_MASK.RENAME, 'rename'],
];

// string "watch@rmount", uint32 watch-id, uint32 count, (uint32 mask, string path)*
/**
 * Decodes one event packet (`r` positioned after the request id) and hands its events to the
 * subscription it names. A malformed packet is dropped; the request stream is unaffected.
 */
export function deliverWatchEvents(r: PacketReader, watchers: ReadonlyMap<number, WatchTarget>): void {
  try {
    if (r.string() !== RMOUNT_EXT.WATCH) return;
    const w = watchers.get(r.u32());
    if (w === undefined) return;
    const n = r.u32();
    const events: WatchEvent[] = [];
    for (let i = 0; i < n; i++) {
      const mask = r.u32();
      const rel = r.string();
      const path = rel === '' ? w.base : w.base === '/' ? `/${rel}` : `${w.base}/${rel}`;
      if ((mask & WATCH_MASK.UNWATCHED) !== 0) w.unwatched = true;
      const kinds = KINDS.filter(([bit]) => (mask & bit) !== 0).map(([, kind]) => kind);
      events.push({ path, kinds, rescan: (mask & WATCH_MASK.RESCAN) !== 0 });
    }
    if (events.length > 0) w.listener(events);
  } catch {
    // Malformed: dropped (see above).
  }
}
