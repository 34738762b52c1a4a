/**
 * The write-back journal on a real control socket: the `sync` request, `writeBack` in `status`,
 * and the barrier that holds every exec until what was saved is on the remote. The journal is a
 * FakeWriteBack the test drives; the socket, the client and the local backend are real.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectControl, type ControlClient } from '../../src/control/client.ts';
import type { MountStatusPayload, SyncAnswer } from '../../src/control/protocol.ts';
import type { Logger } from '../../src/remote/log.ts';
import { collectOutput } from '../../src/remote/session-output.ts';
import { WriteBackFailedError } from '../../src/remote/write-back.ts';
import { FakeWriteBack, failedOp, serveFakeMount } from '../helpers/fake-write-back.ts';

async function connect(t: { after(fn: () => void): void }, socketPath: string): Promise<ControlClient> {
  const client = await connectControl(socketPath);
  t.after(() => client.close());
  return client;
}

/** Resolves true when `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)]);
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, error() {}, info() {}, debug() {}, warn: (m: string) => { warnings.push(m); } };
}

describe('control socket: sync and status of the write-back journal', () => {
  it('status carries the journal\'s status, and none without a journal', async t => {
    const wb = new FakeWriteBack();
    wb.pendingOps = 3;
    wb.pendingBytes = 4096;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    const status = await (await connect(t, server.socketPath)).request<MountStatusPayload>('status');
    assert.deepEqual(status.writeBack, JSON.parse(JSON.stringify(wb.status())));
    const plain = await serveFakeMount(t);
    assert.equal((await (await connect(t, plain.server.socketPath)).request<MountStatusPayload>('status')).writeBack, undefined);
  });

  it('sync answers once the journal is sent, and status answers on another connection meanwhile', async t => {
    const wb = new FakeWriteBack();
    wb.pendingOps = 2;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    const syncing = (await connect(t, server.socketPath)).request<SyncAnswer>('sync', {});
    const poller = await connect(t, server.socketPath);
    assert.equal((await poller.request<MountStatusPayload>('status')).writeBack?.pendingOps, 2);
    assert.equal(await settlesWithin(syncing, 100), false, 'sync waits for the journal');
    await wb.flush();
    assert.deepEqual(await syncing, {});
    assert.deepEqual(wb.calls, ['sync']);
  });

  it('sync whose changes the remote refused fails with ERR_WRITEBACK_FAILED and lists them', async t => {
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/a.txt'), failedOp('/w/b', 'ENOSPC', 'mkdir')];
    wb.pendingOps = 2;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    await assert.rejects((await connect(t, server.socketPath)).request('sync', {}), (error: unknown) => {
      assert.ok(error instanceof WriteBackFailedError);
      assert.equal(error.code, 'ERR_WRITEBACK_FAILED');
      assert.deepEqual(error.failed, wb.failed);
      return true;
    });
  });

  it('sync --retry sends the refused changes again and waits', async t => {
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/a.txt')];
    wb.pendingOps = 1;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    const retrying = (await connect(t, server.socketPath)).request<SyncAnswer>('sync', { retry: true });
    assert.equal(await settlesWithin(retrying, 100), false);
    await wb.flush();
    assert.deepEqual(await retrying, {});
    assert.deepEqual(wb.calls, ['retry']);
  });

  it('sync --discard drops the refused changes and answers their paths', async t => {
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/a.txt'), failedOp('/w/b.txt')];
    wb.pendingOps = 2;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    const answer = await (await connect(t, server.socketPath)).request<SyncAnswer>('sync', { discard: true });
    assert.deepEqual(answer.discarded, ['/w/a.txt', '/w/b.txt']);
    assert.deepEqual(wb.calls, ['discard']);
  });

  it('sync with both --retry and --discard is ERR_USAGE', async t => {
    const { server } = await serveFakeMount(t, { writeBack: new FakeWriteBack() });
    await assert.rejects((await connect(t, server.socketPath)).request('sync', { retry: true, discard: true }), { code: 'ERR_USAGE' });
  });

  it('sync on a mount without a journal answers at once', async t => {
    const { server } = await serveFakeMount(t);
    const client = await connect(t, server.socketPath);
    assert.deepEqual(await client.request<SyncAnswer>('sync', {}), {});
    assert.deepEqual(await client.request<SyncAnswer>('sync', { discard: true }), { discarded: [] });
  });

  it('a client that goes away ends its sync\'s wait', async t => {
    const wb = new FakeWriteBack();
    wb.pendingOps = 1;
    const { server } = await serveFakeMount(t, { writeBack: wb });
    const client = await connectControl(server.socketPath);
    const syncing = client.request('sync', {});
    syncing.catch(() => {});
    while (wb.signals.length === 0) await sleep(10);
    client.close();
    for (let i = 0; i < 100 && !wb.signals[0]!.aborted; i++) await sleep(10);
    assert.equal(wb.signals[0]!.aborted, true);
  });
});

describe('control socket: exec waits for the write-back journal', () => {
  it('exec starts only once the journal is sent, and sees what it sent', async t => {
    const wb = new FakeWriteBack();
    wb.pendingOps = 1;
    const { server, dir } = await serveFakeMount(t, { writeBack: wb });
    // The journal's last send writes the file; a command started before it would not find it.
    wb.onFlush = () => writeFile(join(dir, 'saved.txt'), 'from the editor\n');
    const session = (await connect(t, server.socketPath)).exec({ argv: ['cat', 'saved.txt'], cwd: dir });
    assert.equal(await settlesWithin(session, 150), false, 'exec waits for the journal');
    await wb.flush();
    const out = await collectOutput(await session);
    assert.equal(out.code, 0);
    assert.equal(out.stdout.toString(), await readFile(join(dir, 'saved.txt'), 'utf8'));
  });

  it('exec fails with ERR_TIMEOUT when the journal is not sent within the link timeout', async t => {
    const wb = new FakeWriteBack();
    wb.hang = true;
    const { server } = await serveFakeMount(t, { writeBack: wb, linkTimeoutMs: 200 });
    await assert.rejects((await connect(t, server.socketPath)).exec({ argv: ['true'] }), { code: 'ERR_TIMEOUT' });
    assert.equal(wb.signals[0]?.aborted, true, 'the journal was told to stop waiting');
  });

  it('exec runs although the remote refused changes, with a warning in the log', async t => {
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/locked.txt')];
    wb.pendingOps = 1;
    const log = recordingLogger();
    const { server } = await serveFakeMount(t, { writeBack: wb, log });
    const out = await collectOutput(await (await connect(t, server.socketPath)).exec({ argv: ['echo', 'ran'] }));
    assert.equal(out.code, 0);
    assert.equal(out.stdout.toString(), 'ran\n');
    assert.equal(log.warnings.length, 1);
  });

  it('exec on a mount without a journal starts at once', async t => {
    const { server } = await serveFakeMount(t);
    const out = await collectOutput(await (await connect(t, server.socketPath)).exec({ argv: ['echo', 'ok'] }));
    assert.equal(out.stdout.toString(), 'ok\n');
  });
});
