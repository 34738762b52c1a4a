import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { batchOpPath, canBatch, type BatchOp, type FileClient, type FileHandle, type WatchEvent } from '../../src/remote/file-client.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import { ReconnectingFileClient } from '../../src/remote/reconnecting-file-client.ts';
import { ResilientHandle, type HandleHome } from '../../src/remote/resilient-handle.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

/**
 * One in-memory "server" and the clients connected to it, each of which can be killed. While
 * `hold()` is in effect, making a new client waits (the link is down), as the backends' connect does.
 */
function memoryServer() {
  const first = new MemoryFileClient({ killable: true });
  const clients: MemoryFileClient[] = [];
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  const connect = async (): Promise<FileClient> => {
    if (clients.length > 0) await gate;
    const c = clients.length === 0 ? first : new MemoryFileClient({ killable: true, sameFilesAs: first });
    clients.push(c);
    return c;
  };
  return {
    first,
    clients,
    connect,
    /** The client made last. */
    get latest(): MemoryFileClient { return clients.at(-1)!; },
    /** New clients wait until `release()`. */
    hold(): void { gate = new Promise<void>(resolve => { open = resolve; }); },
    release(): void { open(); gate = undefined; },
  };
}

/** Gives `c` a batch of unlinks and renames made through its own calls, one after the other. */
function withBatch(c: FileClient): FileClient {
  c.capabilities.batch = true;
  return Object.assign(c, {
    batch: async (ops: readonly BatchOp[]): Promise<(FsError | undefined)[]> => {
      const out: (FsError | undefined)[] = [];
      for (const op of ops) {
        try {
          if (op.kind === 'unlink') await c.unlink(op.path);
          else if (op.kind === 'rename') await c.rename(op.from, op.to);
          else throw new FsError('ENOSYS', op.kind, batchOpPath(op));
          out.push(undefined);
        } catch (error) {
          out.push(error as FsError);
        }
      }
      return out;
    },
  });
}

/** Resolves when `client` receives a call to `method`, which then never answers. */
function stall(client: MemoryFileClient, method: string): Promise<void> {
  return new Promise<void>(resolve => {
    client.hook = m => {
      if (m !== method) return undefined;
      resolve();
      return new Promise<void>(() => undefined);
    };
  });
}

describe('ReconnectingFileClient handles', () => {
  it('a write before, during and after a kill lands every byte in order', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', '');
    const h = await files.open('/f', { read: true, write: true });
    await h.write(Buffer.from('aaaa'), 0, 4, 0);
    const stalled = stall(s.first, 'handle.write');
    const during = h.write(Buffer.from('bbbb'), 0, 4, 4);
    await stalled;
    s.first.kill();
    await during;
    await h.write(Buffer.from('cccc'), 0, 4, 8);
    await h.sync();
    assert.equal(s.first.content('/f').toString(), 'aaaabbbbcccc');
    assert.equal(files.reconnects, 1);
    await h.close();
  });

  it('a read after a reconnect reads the file through a new handle', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', 'hello');
    const h = await files.open('/f', { read: true, write: false });
    s.first.kill();
    const buffer = Buffer.alloc(5);
    assert.equal(await h.read(buffer, 0, 5, 0), 5);
    assert.equal(buffer.toString(), 'hello');
    assert.equal(s.latest.count('open'), 1);
  });

  it('a file renamed through the client reopens under its new name', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/d/f', 'x');
    const h = await files.open('/d/f', { read: true, write: true });
    await files.rename('/d', '/e');
    assert.equal(h.path, '/e/f');
    s.first.kill();
    await h.write(Buffer.from('y'), 0, 1, 1);
    assert.equal(s.first.content('/e/f').toString(), 'xy');
    assert.deepEqual(s.latest.log.find(e => e.method === 'open')?.args[0], '/e/f');
  });

  it('renames and unlinks that landed in a batch are followed as single ones are', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(async () => withBatch(await s.connect()));
    assert.equal(canBatch(files), true);
    s.first.put('/d/f', 'x');
    s.first.put('/g', 'old');
    const moved = await files.open('/d/f', { read: true, write: true });
    const removed = await files.open('/g', { read: true, write: false });
    const results = await files.batch([
      { kind: 'rename', from: '/missing', to: '/m' },
      { kind: 'rename', from: '/d', to: '/e' },
      { kind: 'unlink', path: '/g' },
    ]);
    assert.deepEqual(results.map(r => r?.code), ['ENOENT', undefined, undefined]);
    assert.equal(moved.path, '/e/f');
    s.first.put('/g', 'another file');
    s.first.kill();
    await moved.write(Buffer.from('y'), 0, 1, 1);
    assert.equal(s.first.content('/e/f').toString(), 'xy');
    await assert.rejects(removed.read(Buffer.alloc(3), 0, 3, 0), { code: 'ESTALE' });
  });

  it('a reopen never creates, truncates or excludes again', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    const h = await files.open('/f', { read: false, write: true, create: true, exclusive: true, truncate: true });
    await h.write(Buffer.from('abc'), 0, 3, 0);
    s.first.kill();
    await h.write(Buffer.from('d'), 0, 1, 3);
    assert.equal(s.first.content('/f').toString(), 'abcd');
    assert.deepEqual(s.latest.log.find(e => e.method === 'open')?.args[1], { read: false, write: true });
  });

  it('a file removed on the remote meanwhile fails the handle with ENOENT, every time', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', 'x');
    const h = await files.open('/f', { read: true, write: true });
    s.first.kill();
    s.first.removeBehind('/f');
    await assert.rejects(h.write(Buffer.from('y'), 0, 1, 1), { code: 'ENOENT', syscall: 'write' });
    await assert.rejects(h.read(Buffer.alloc(1), 0, 1, 0), { code: 'ENOENT' });
    assert.equal(s.first.exists('/f'), false);
    await h.close();
  });

  it('a handle whose name was unlinked through the client fails with ESTALE after a reconnect', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', 'old');
    const h = await files.open('/f', { read: true, write: false });
    await files.unlink('/f');
    s.first.put('/f', 'another file');
    s.first.kill();
    await assert.rejects(h.read(Buffer.alloc(3), 0, 3, 0), { code: 'ESTALE' });
  });

  it('close of a handle whose client died resolves and sends nothing', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', 'x');
    const h = await files.open('/f', { read: true, write: false });
    s.first.kill();
    await h.close();
    await h.close();
    assert.equal(s.latest.count('open'), 0);
    await assert.rejects(h.read(Buffer.alloc(1), 0, 1, 0), { code: 'EBADF' });
  });

  it('a stat in flight when the link dies is sent again on the new client', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    s.first.put('/f', 'xyz');
    const stalled = stall(s.first, 'stat');
    const pending = files.stat('/f');
    await stalled;
    s.first.kill();
    assert.equal((await pending).size, 3);
  });

  it('a mkdir in flight when the link dies is not sent again (it may have landed)', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    const stalled = stall(s.first, 'mkdir');
    const pending = files.mkdir('/d');
    await stalled;
    s.first.kill();
    await assert.rejects(pending, { code: 'ENOTCONN' });
    await files.lstat('/');
    assert.equal(s.clients.length, 2);
    assert.equal(s.clients[1]!.count('mkdir'), 0);
  });

  it('linkUp is false from the kill until a new client is adopted', async () => {
    const s = memoryServer();
    const files = await ReconnectingFileClient.create(s.connect);
    assert.equal(files.linkUp(), true);
    s.hold();
    s.first.kill();
    await tick();
    assert.equal(files.linkUp(), false);
    const waiting = files.lstat('/');
    s.release();
    await waiting;
    assert.equal(files.linkUp(), true);
    await files.close();
    assert.equal(files.linkUp(), false);
  });

  it('renews a watch on the new client with one rescan event, and says it is not live in between', async () => {
    const listeners: Array<(events: WatchEvent[]) => void> = [];
    const watching = (c: MemoryFileClient): FileClient => {
      let alive = true;
      void c.closed?.then(() => { alive = false; });
      return Object.assign(c, {
        watch: async (_root: string, listener: (events: WatchEvent[]) => void) => {
          listeners.push(listener);
          return { live: () => alive, barrier: async () => alive, close: async () => undefined };
        },
      });
    };
    const first = new MemoryFileClient({ killable: true, capabilities: { watch: true } });
    let made = 0;
    const files = await ReconnectingFileClient.create(async () => made++ === 0
      ? watching(first)
      : watching(new MemoryFileClient({ killable: true, capabilities: { watch: true }, sameFilesAs: first })));
    const seen: WatchEvent[] = [];
    const liveAtRescan: boolean[] = [];
    const sub = await files.watch('/w', events => {
      seen.push(...events);
      liveAtRescan.push(sub.live());
    });
    assert.equal(sub.live(), true);
    first.kill();
    await first.closed;
    assert.equal(sub.live(), false, 'the watch is lost with the transport');
    await files.lstat('/');
    assert.equal(listeners.length, 2);
    assert.deepEqual(seen, [{ path: '/w', kinds: [], rescan: true }]);
    assert.deepEqual(liveAtRescan, [true], 'live again when the rescan comes');
    await sub.close();
    assert.equal(sub.live(), false);
  });

  it('calls waiting for a reopen are sent on the new handle in the order they were made, whatever order their failures came in', async () => {
    const lost = new FsError('ENOTCONN', 'read', '/f');
    let failWrite!: (error: unknown) => void;
    const sent: string[] = [];
    const oldHandle = {
      path: '/f',
      inOrder: true,
      write: () => new Promise<void>((_, reject) => { failWrite = reject; }),
      read: () => Promise.reject(lost),
    } as unknown as FileHandle;
    const newHandle = {
      path: '/f',
      inOrder: true,
      write: async () => { sent.push('write'); },
      read: async () => { sent.push('read'); return 0; },
    } as unknown as FileHandle;
    const dead = {} as FileClient;
    const next = { open: async () => newHandle } as unknown as FileClient;
    let up!: () => void;
    const linkBack = new Promise<void>(resolve => { up = resolve; });
    let gone = false;
    const home: HandleHome = {
      current: async () => { await linkBack; return next; },
      lost: (client, error) => { if (client === dead && error === lost) gone = true; return gone && client === dead; },
      gone: client => client === dead && gone,
      forget: () => undefined,
      now: () => undefined,
    };
    const h = new ResilientHandle(home, dead, oldHandle, '/f', { read: true, write: true });
    assert.equal(h.inOrder, true);
    const writing = h.write(Buffer.from('x'), 0, 1, 0);
    const reading = h.read(Buffer.alloc(1), 0, 1, 0);
    // The read's failure comes first; the write's only later, while the reopen waits for the link.
    await tick();
    failWrite(lost);
    await tick();
    up();
    await Promise.all([writing, reading]);
    assert.deepEqual(sent, ['write', 'read']);
  });
});
