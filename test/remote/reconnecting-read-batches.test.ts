import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { canReadFiles, canSubtree, type FileClient } from '../../src/remote/file-client.ts';
import { ReconnectingFileClient } from '../../src/remote/reconnecting-file-client.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

const batches = { subtree: true, readFiles: true };

/** Clients of one in-memory "server" that read in batches; making a new one waits while `held`. */
function server() {
  const clients: MemoryFileClient[] = [];
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  return {
    clients,
    connect: async (): Promise<FileClient> => {
      if (clients.length > 0) await gate;
      const c = new MemoryFileClient({ killable: true, capabilities: batches, sameFilesAs: clients[0] });
      clients.push(c);
      return c;
    },
    hold(): void { gate = new Promise<void>(resolve => { open = resolve; }); },
    release(): void { open(); gate = undefined; },
  };
}

/** Resolves when `client` receives a call to `method`, which then never answers. */
function stall(client: MemoryFileClient, method: string): Promise<void> {
  return new Promise<void>(resolve => {
    client.hook = m => {
      if (m !== method) return;
      resolve();
      return new Promise<void>(() => undefined);
    };
  });
}

describe('ReconnectingFileClient subtree and readFiles', () => {
  it('has subtree and readFiles when the client it wraps has them, and passes them through', async () => {
    const s = server();
    const files = await ReconnectingFileClient.create(s.connect);
    assert.equal(canSubtree(files), true);
    assert.equal(canReadFiles(files), true);
    s.clients[0]!.put('/d/e/f', 'content');
    const tree = await files.subtree('/d', { maxEntries: 10 });
    assert.deepEqual(tree.folders.map(f => f.path), ['/d', '/d/e']);
    const [f] = await files.readFiles(['/d/e/f'], 100);
    assert.equal(f!.data!.toString(), 'content');
    assert.equal(s.clients[0]!.count('subtree'), 1);
    assert.equal(s.clients[0]!.count('readFiles'), 1);
  });

  it('lacks them over a client without them, and refuses them with ENOTSUP', async () => {
    const files = await ReconnectingFileClient.create(async () => new MemoryFileClient());
    assert.equal(canSubtree(files), false);
    assert.equal(canReadFiles(files), false);
    await assert.rejects(files.subtree('/', { maxEntries: 1 }), { code: 'ENOTSUP', syscall: 'subtree' });
    await assert.rejects(files.readFiles(['/x'], 1), { code: 'ENOTSUP', syscall: 'readFiles' });
  });

  it('sends subtree again on the new client when the link died under it', async () => {
    const s = server();
    const files = await ReconnectingFileClient.create(s.connect);
    s.clients[0]!.putDir('/d/e');
    const stalled = stall(s.clients[0]!, 'subtree');
    s.hold();
    const answer = files.subtree('/d', { maxEntries: 10 });
    await stalled;
    s.clients[0]!.kill();
    await tick();
    assert.equal(files.linkUp(), false);
    s.release();
    assert.deepEqual((await answer).folders.map(f => f.path), ['/d', '/d/e']);
    assert.equal(s.clients.length, 2);
    assert.equal(s.clients[1]!.count('subtree'), 1);
  });

  it('readFiles made while the link is down waits for the new client', async () => {
    const s = server();
    const files = await ReconnectingFileClient.create(s.connect);
    s.clients[0]!.put('/f', 'x');
    s.hold();
    s.clients[0]!.kill();
    await tick();
    const answer = files.readFiles(['/f', '/nope'], 10);
    await tick();
    s.release();
    const [f, nope] = await answer;
    assert.equal(f!.data!.toString(), 'x');
    assert.equal(nope!.error?.code, 'ENOENT');
    assert.equal(s.clients[0]!.count('readFiles'), 0);
    assert.equal(s.clients[1]!.count('readFiles'), 1);
  });
});
