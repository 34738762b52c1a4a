import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendJournal } from '../../src/mount/send-journal.ts';
import { WriteBackFailedError, type WriteBack, type WriteBackStatus } from '../../src/remote/write-back.ts';

/** A journal whose sends are driven by the test: `left` pending operations, `sent` so far. */
function fakeJournal(behaviour: 'stuck' | 'progress' | 'refused'): WriteBack {
  let left = behaviour === 'progress' ? 20 : 5;
  let sent = 0;
  const fake = {
    status: (): WriteBackStatus => ({
      mode: 'on', journal: '/j', pendingOps: left, pendingBytes: left * 10, oldestAgeMs: 0, inFlight: 0, sent,
      failed: [], conflicts: [], maxBytes: 1 << 30,
    }),
    async sync(options?: { signal?: AbortSignal }): Promise<void> {
      if (behaviour === 'refused') throw new WriteBackFailedError([{ op: 'put', path: '/x', code: 'EACCES', message: '', at: '' }]);
      await new Promise<void>((resolve, reject) => {
        // One operation lands every 100 ms while making progress; never while stuck.
        const timer = setInterval(() => {
          if (behaviour === 'progress' && left > 0) {
            left--;
            sent++;
          }
          if (left === 0) {
            clearInterval(timer);
            resolve();
          }
        }, 100);
        options?.signal?.addEventListener('abort', () => {
          clearInterval(timer);
          reject(options.signal!.reason);
        }, { once: true });
      });
    },
    retry: () => Promise.resolve(),
    discard: () => Promise.resolve([]),
  };
  return fake;
}

describe('sendJournal', () => {
  it('waits while sends make progress, however long that takes past the stall limit', async () => {
    const journal = fakeJournal('progress');
    let ticks = 0;
    // 20 operations at one every 100 ms outlast a 1 s stall limit, but every tick sees progress.
    const r = await sendJournal(journal, 1000, () => { ticks++; });
    assert.deepEqual(r, { outcome: 'sent' });
    assert.ok(ticks >= 1);
  });

  it('gives up on a journal that makes no progress, leaving its changes in it', async () => {
    const journal = fakeJournal('stuck');
    const r = await sendJournal(journal, 300);
    assert.equal(r.outcome, 'stalled');
    assert.equal(journal.status().pendingOps, 5);
  });

  it('tells refused changes from a stall', async () => {
    const r = await sendJournal(fakeJournal('refused'), 300);
    assert.equal(r.outcome, 'refused');
    assert.ok('error' in r && r.error instanceof WriteBackFailedError);
  });
});
