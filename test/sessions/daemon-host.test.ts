/**
 * Sessions held by the mount daemon (where rmount-agent cannot run), over the local backend's
 * real processes: the same behaviour and codes as the agent's host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import { LocalBackend } from '../../src/backends/local/backend.ts';
import { parseDestination } from '../../src/remote/destination.ts';
import { DaemonSessionHost, OutputRing } from '../../src/sessions/daemon-host.ts';

function collect(stream: Readable): () => Buffer {
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  return () => Buffer.concat(chunks);
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000 && !(await cond()); i++) await new Promise(r => setTimeout(r, 20));
  assert.ok(await cond(), 'timed out');
}

describe('the output ring', () => {
  it('keeps exactly the last size bytes across chunk edges', () => {
    const ring = new OutputRing(10);
    ring.write(Buffer.from('abcdef'));
    assert.equal(ring.contents().toString(), 'abcdef');
    ring.write(Buffer.from('ghijkl'));
    assert.equal(ring.contents().toString(), 'cdefghijkl');
    ring.write(Buffer.from('0123456789ABC'));
    assert.equal(ring.contents().toString(), '3456789ABC');
    assert.equal(ring.total, 25);
    assert.equal(ring.buffered, 10);
  });
});

describe('sessions held by the mount daemon', () => {
  const backend = new LocalBackend(parseDestination('local:/'));
  const exec = (argv: string[], options: Parameters<LocalBackend['exec']>[1]): ReturnType<LocalBackend['exec']> => backend.exec(argv, options);

  it('replays the last buffer bytes, feeds input from every attachment, keeps the exit code', async () => {
    const host = new DaemonSessionHost(exec);
    const { id } = await host.start({ argv: ['sh', '-c', 'seq 1 20000; cat; exit 5'], buffer: 1000, name: 'held' });
    await until(async () => (await host.list())[0]!.total >= 108894);
    const a = await host.attach('held', { replay: true });
    const seenA = collect(a.output);
    const b = await host.attach(id, { replay: false });
    const seenB = collect(b.output);
    await until(() => seenA().length >= 1000);
    assert.equal(seenA().toString(), Buffer.from(Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('')).subarray(-1000).toString());
    b.input.write('typed\n');
    await until(() => seenA().includes('typed\n') && seenB().includes('typed\n'));
    assert.equal((await host.list())[0]!.clients, 2);
    a.input.end();
    await host.attach(id, { replay: false, eofClosesInput: true }).then(c => c.input.end());
    assert.deepEqual(await a.ended, { kind: 'exit', code: 5 });
    assert.deepEqual(await b.ended, { kind: 'exit', code: 5 });
    const [info] = await host.list();
    assert.equal(info!.state, 'exited');
    assert.equal(info!.exitCode, 5);
    const again = await host.attach('held', { replay: true });
    assert.deepEqual(await again.ended, { kind: 'exit', code: 5 });
    assert.deepEqual(await host.remove('held'), [id]);
    host.close();
  });

  it('kills, names its errors as the agent does, and detaches without ending the session', async () => {
    const host = new DaemonSessionHost(exec);
    const { id } = await host.start({ argv: ['sleep', '600'], name: 'sleeper' });
    await assert.rejects(host.start({ argv: ['true'], name: 'sleeper' }), { code: 'ERR_NAME_TAKEN' });
    await assert.rejects(host.start({ argv: ['true'], name: 'no spaces' }), { code: 'ERR_BAD_REQUEST' });
    await assert.rejects(host.attach('nope', { replay: true }), { code: 'ERR_SESSION_NOT_FOUND' });
    await assert.rejects(host.remove(id), { code: 'ERR_SESSION_RUNNING' });
    await assert.rejects(host.resize(id, 80, 24), { code: 'ERR_NO_TTY' });
    const a = await host.attach(id, { replay: true });
    a.detach();
    assert.deepEqual(await a.ended, { kind: 'closed' });
    assert.equal((await host.list())[0]!.state, 'running');
    await host.kill(id, 'KILL');
    await until(async () => (await host.list())[0]!.state === 'killed');
    assert.equal((await host.list())[0]!.signal, 'KILL');
    assert.deepEqual(await host.removeExited(), [id]);
    host.close();
  });
});
