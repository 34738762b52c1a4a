import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelNotices } from '../../src/workspacefs/kernel-notices.ts';
import { silentLogger } from '../../src/remote/log.ts';
import { recordingNotifier } from './fixture.ts';

const turn = () => new Promise(resolve => setImmediate(resolve));

describe('KernelNotices', () => {
  it('sends queued notices only after the current turn, in order', async () => {
    const notices = new KernelNotices(silentLogger);
    const kernel = recordingNotifier();
    notices.attach(kernel);
    notices.inode(5);
    notices.entry(1, 'a');
    notices.sendSoon();
    assert.deepEqual(kernel.calls, []);
    await turn();
    assert.deepEqual(kernel.calls, ['inode 5', 'entry 1 a']);
  });

  it('queues nothing before a notifier is attached', async () => {
    const notices = new KernelNotices(silentLogger);
    notices.inode(5);
    const kernel = recordingNotifier();
    notices.attach(kernel);
    notices.sendSoon();
    await turn();
    assert.deepEqual(kernel.calls, []);
  });

  it('a failing notice does not stop the others', async () => {
    const notices = new KernelNotices(silentLogger);
    const calls: string[] = [];
    notices.attach({
      invalInode(ino) { calls.push(`inode ${ino}`); throw new Error('kernel said no'); },
      invalEntry(parent, name) { calls.push(`entry ${parent} ${name}`); },
    });
    notices.inode(2);
    notices.entry(1, 'b');
    notices.sendSoon();
    await turn();
    assert.deepEqual(calls, ['inode 2', 'entry 1 b']);
  });

  it('queues a notice once while it waits to be sent, and again once it was sent', async () => {
    const notices = new KernelNotices(silentLogger);
    const kernel = recordingNotifier();
    notices.attach(kernel);
    for (let i = 0; i < 1000; i++) {
      notices.inode(7);
      notices.entry(7, `n${i % 3}`);
      notices.attributes(7);
    }
    notices.sendSoon();
    await turn();
    assert.equal(kernel.calls.length, 5, kernel.calls.join(', '));
    assert.deepEqual(kernel.calls.filter(c => c.startsWith('entry')), ['entry 7 n0', 'entry 7 n1', 'entry 7 n2']);
    notices.inode(7);
    await notices.flush();
    notices.inode(7);
    notices.sendSoon();
    await turn();
    // The first batch's two (all of the inode, and its attributes alone), then one per batch.
    assert.equal(kernel.calls.filter(c => c === 'inode 7').length, 4);
  });
});
