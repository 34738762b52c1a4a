import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { ctx, makeFs, O_APPEND, O_RDWR, O_WRONLY } from './fixture.ts';

// Gathering holds writes back; these cases check that bytes still reach the remote in the order
// the kernel issued them, whichever descriptor they came through. The flush delay is long, so a
// descriptor kept open keeps its bytes gathered unless something makes it send them.
const GATHER = { writeFlushDelayMs: 60_000 };

async function openTwo(fs: ReturnType<typeof makeFs>['fs'], flagsA: number, flagsB: number) {
  const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
  const a = (await fs.open(ino, flagsA, ctx)).fh;
  const b = (await fs.open(ino, flagsB, ctx)).fh;
  return { ino, a, b };
}

async function close(fs: ReturnType<typeof makeFs>['fs'], ino: number, fh: number): Promise<void> {
  await fs.flush(ino, fh, ctx);
  await fs.release(ino, fh, ctx);
}

describe('WorkspaceFilesystem write order across descriptors', () => {
  it('a later write through a second descriptor wins over an earlier one kept open', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.alloc(0));
    const { ino, a, b } = await openTwo(fs, O_WRONLY, O_WRONLY);
    await fs.write(ino, a, Buffer.from('AAAA'), 0, ctx);
    await fs.write(ino, b, Buffer.from('BBBB'), 0, ctx);
    await close(fs, ino, b);
    await close(fs, ino, a);
    assert.equal(client.content('/work/f').toString(), 'BBBB');
  });

  it('appends through two descriptors land in the order they were written', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.alloc(0));
    const { ino, a, b } = await openTwo(fs, O_WRONLY | O_APPEND, O_WRONLY | O_APPEND);
    await fs.write(ino, a, Buffer.from('first\n'), 0, ctx);
    await fs.write(ino, b, Buffer.from('second\n'), 6, ctx);
    await close(fs, ino, b);
    await close(fs, ino, a);
    assert.equal(client.content('/work/f').toString(), 'first\nsecond\n');
  });

  it('an append after a positioned write through another descriptor goes after its bytes', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.alloc(0));
    const { ino, a, b } = await openTwo(fs, O_RDWR, O_WRONLY | O_APPEND);
    await fs.write(ino, a, Buffer.alloc(20, 'x'), 0, ctx);
    await fs.write(ino, b, Buffer.from('APP'), 20, ctx);
    // The appending descriptor closes first, while the other still holds its bytes gathered.
    await close(fs, ino, b);
    assert.equal((await fs.getattr(ino, undefined, ctx)).attr.size, 23);
    await close(fs, ino, a);
    assert.equal(client.content('/work/f').toString(), `${'x'.repeat(20)}APP`);
  });

  it('a slow earlier write is not overtaken by a later overlapping one', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.alloc(0));
    const { ino, a, b } = await openTwo(fs, O_WRONLY, O_WRONLY);
    let first = true;
    client.hook = async method => {
      if (method !== 'handle.write' || !first) return;
      first = false;
      await sleep(50); // the remote answers the first write late (a thread pool, another channel)
    };
    await fs.write(ino, a, Buffer.from('AAAA'), 0, ctx);
    await fs.write(ino, b, Buffer.from('BB'), 1, ctx);
    await close(fs, ino, b);
    await close(fs, ino, a);
    assert.equal(client.content('/work/f').toString(), 'ABBA');
  });

  it('writes to disjoint ranges through two descriptors are in flight together', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.alloc(0));
    const { ino, a, b } = await openTwo(fs, O_WRONLY, O_WRONLY);
    let running = 0;
    let most = 0;
    client.hook = async method => {
      if (method !== 'handle.write') return;
      most = Math.max(most, ++running);
      await sleep(20);
      running--;
    };
    await fs.write(ino, a, Buffer.from('AAAA'), 0, ctx);
    await fs.write(ino, b, Buffer.from('BBBB'), 4, ctx);
    await Promise.all([close(fs, ino, a), close(fs, ino, b)]);
    assert.equal(most, 2);
    assert.equal(client.content('/work/f').toString(), 'AAAABBBB');
  });

  it('a read through another descriptor sees a write not yet sent', async () => {
    const { client, fs } = makeFs(GATHER);
    client.put('/work/f', Buffer.from('old!'));
    const { ino, a, b } = await openTwo(fs, O_WRONLY, O_RDWR);
    await fs.write(ino, a, Buffer.from('new'), 0, ctx);
    assert.equal((await fs.read(ino, b, 0, 4, ctx)).toString(), 'new!');
    await close(fs, ino, a);
    await close(fs, ino, b);
  });
});
