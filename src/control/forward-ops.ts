/**
 * The forward requests a mount daemon answers on its control socket; the forwards belong to the
 * daemon and live as long as it does.
 *
 *   forward-add  { local?: string[], remote?: string[], auto?: boolean } → { forwards: ForwardInfo[] } (the new ones)
 *   forward-ls   –                                                      → { auto: boolean, forwards: ForwardInfo[] }
 *   forward-rm   { id }  (an id, or "all")                              → { removed: [ids] }
 */
import type { ForwardInfo } from '../sessions/forwarder.ts';
import type { ForwardSet } from '../sessions/forward-set.ts';
import type { Envelope } from './protocol.ts';

export const FORWARD_REQUESTS = new Set(['forward-add', 'forward-ls', 'forward-rm']);

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Answers one `forward-*` envelope. A failing spec stops the request; forwards started before it stay. */
export async function answerForward(envelope: Envelope, set: ForwardSet): Promise<unknown> {
  const p = (envelope.payload ?? {}) as Record<string, unknown>;
  switch (envelope.type) {
    case 'forward-add': {
      const added: ForwardInfo[] = [];
      for (const spec of strings(p.local)) added.push(await set.add(spec, 'local'));
      for (const spec of strings(p.remote)) added.push(await set.add(spec, 'remote'));
      if (p.auto === true) {
        const before = new Set(set.list().map(f => f.id));
        await set.startAuto();
        added.push(...set.list().filter(f => !before.has(f.id)));
      }
      return { forwards: added };
    }
    case 'forward-ls':
      return { auto: set.auto, forwards: set.list() };
    case 'forward-rm':
      return { removed: await set.remove(typeof p.id === 'string' ? p.id : '') };
    default:
      throw new Error(`unknown request "${envelope.type}"`);
  }
}
