import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canCopyData, canWatch, reportsClose, reportsLink, type FileClient } from '../../src/remote/file-client.ts';
import { ReconnectingFileClient } from '../../src/remote/reconnecting-file-client.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

/** A memory client whose transport can be "killed": `closed` resolves and calls fail ENOTCONN. */
function dying(): { client: MemoryFileClient & { closed: Promise<void> }; kill(): Promise<void> } {
  let resolve!: () => void;
  const closed = new Promise<void>(r => { resolve = r; });
  const client = Object.assign(new MemoryFileClient(), { closed });
  return { client, kill: async () => { await client.close(); resolve(); await closed; } };
}

describe('ReconnectingFileClient', () => {
  it('makes a new client after the current one says its transport is gone', async () => {
    const made: ReturnType<typeof dying>[] = [];
    const files = await ReconnectingFileClient.create(async () => { made.push(dying()); return made.at(-1)!.client; });
    await files.mkdir('/a');
    assert.equal(made.length, 1);
    await made[0]!.kill();
    await files.mkdir('/b');
    assert.equal(made.length, 2);
    assert.equal(files.reconnects, 1);
    assert.equal((await made[1]!.client.lstat('/b')).mode & 0o170000, 0o040000);
  });

  it('keeps a client that cannot say it closed, and fails with its errors', async () => {
    const inner = new MemoryFileClient();
    let connects = 0;
    const files = await ReconnectingFileClient.create(async () => { connects++; return inner; });
    await inner.close();
    await assert.rejects(files.stat('/'), { code: 'ENOTCONN' });
    assert.equal(connects, 1);
  });

  it('fails with ENOTCONN, naming the op, when making a new client fails', async () => {
    const first = dying();
    let calls = 0;
    const files = await ReconnectingFileClient.create(async () => {
      if (calls++ > 0) throw new Error('no agent');
      return first.client;
    });
    await first.kill();
    await assert.rejects(files.readdir('/'), { code: 'ENOTCONN', syscall: 'readdir' });
  });

  it('after close, calls fail with ENOTCONN and start nothing', async () => {
    let connects = 0;
    const files = await ReconnectingFileClient.create(async () => { connects++; return dying().client; });
    await files.close();
    await assert.rejects(files.stat('/'), { code: 'ENOTCONN' });
    assert.equal(connects, 1);
  });

  it('has the powers of the client it wraps, and refuses the ones it lacks with ENOTSUP', async () => {
    const files: FileClient = await ReconnectingFileClient.create(async () => new MemoryFileClient());
    assert.equal(canWatch(files), false);
    assert.equal(canCopyData(files), false);
    assert.equal(reportsClose(files), false);
    assert.equal(reportsLink(files), true);
    await assert.rejects(files.watch!('/', () => {}), { code: 'ENOTSUP' });
  });
});
