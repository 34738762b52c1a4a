import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settleAfterCommand, type SettledCaches } from '../../src/mount/settle-remote.ts';

function recording(): { caches: SettledCaches; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    caches: {
      remoteCommandEnded: () => calls.push('ended'),
      flushCaches: () => calls.push('flush'),
      kernelSettled: async () => {
        calls.push('kernel');
      },
    },
  };
}

describe('settleAfterCommand', () => {
  it('without a watch, ends the command and sends the kernel what that queued', async () => {
    const { caches, calls } = recording();
    await settleAfterCommand(caches, undefined);
    assert.deepEqual(calls, ['ended', 'kernel']);
  });

  it("keeps the caches when the watch's barrier says every change was handed over", async () => {
    const { caches, calls } = recording();
    await settleAfterCommand(caches, { barrier: async () => true });
    assert.deepEqual(calls, ['ended', 'kernel']);
  });

  it('forgets everything, here and in the kernel, when the watch is not live (its barrier says no)', async () => {
    const { caches, calls } = recording();
    await settleAfterCommand(caches, { barrier: async () => false });
    assert.deepEqual(calls, ['ended', 'flush', 'kernel']);
  });

  it('forgets everything when the barrier fails or does not answer in time', async () => {
    // The bound's timer does not hold a process open (a daemon is held by its mount); this test's is.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      for (const barrier of [async () => { throw new Error('link lost'); }, () => new Promise<boolean>(() => {})]) {
        const { caches, calls } = recording();
        await settleAfterCommand(caches, { barrier }, 20);
        assert.deepEqual(calls, ['ended', 'flush', 'kernel']);
      }
    } finally {
      clearInterval(keepAlive);
    }
  });
});
