/**
 * `rmount sync`, the write-back part of `rmount status`, and the progress line, run in process
 * through `main` against real control sockets served over a FakeWriteBack (no FUSE mount): the
 * runtime record names the socket as a mount daemon's would.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../../src/cli/main.ts';
import type { MountStatus } from '../../src/cli/commands/status.ts';
import { writeRecord } from '../../src/mount/registry.ts';
import { canonicalMountpoint } from '../../src/system/mountinfo.ts';
import { FakeWriteBack, failedOp, serveFakeMount } from '../helpers/fake-write-back.ts';

/** A stream that keeps what is written; `tty` makes it look like a terminal. */
function sink(tty = false): PassThrough & { text(): string } {
  const s = new PassThrough() as PassThrough & { text(): string; isTTY?: boolean; columns?: number };
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  s.text = () => Buffer.concat(chunks).toString();
  if (tty) Object.assign(s, { isTTY: true, columns: 200 });
  return s;
}

interface Cli {
  env: NodeJS.ProcessEnv;
  runtime: string;
  state: string;
  run(args: string[], tty?: boolean): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** A runtime and a state folder of their own, and a way to run the CLI in this process with them. */
async function cli(t: TestContext): Promise<Cli> {
  const root = await mkdtemp(join(tmpdir(), 'rmount-cli-sync-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const env = { RMOUNT_RUNTIME_DIR: join(root, 'run'), RMOUNT_STATE_DIR: join(root, 'state') };
  await mkdir(env.RMOUNT_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  return {
    env, runtime: env.RMOUNT_RUNTIME_DIR, state: env.RMOUNT_STATE_DIR,
    async run(args, tty = false) {
      const stdout = sink();
      const stderr = sink(tty);
      const code = await main(args, { stdout, stderr, env, exitCode: 0 });
      return { code, stdout: stdout.text(), stderr: stderr.text() };
    },
  };
}

/** Serves a fake mount over `wb` and records it in `c`'s runtime folder; resolves with its mountpoint. */
async function recordedMount(t: TestContext, c: Cli, wb?: FakeWriteBack): Promise<string> {
  const m = await serveFakeMount(t, wb === undefined ? {} : { writeBack: wb });
  await mkdir(m.mountpoint);
  const mountpoint = await canonicalMountpoint(m.mountpoint);
  await writeRecord(c.runtime, {
    pid: process.pid, destination: `local:${m.dir}`, mountpoint, remotePath: m.dir,
    startedAt: new Date().toISOString(), logFile: '', socket: m.server.socketPath,
  });
  return mountpoint;
}

describe('rmount sync', () => {
  it('--retry with --discard is a usage error (exit 2)', async t => {
    const r = await (await cli(t)).run(['sync', '--retry', '--discard']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[ERR_USAGE\]/);
  });

  it('a folder that is no mount exits 1 with ERR_NOT_FOUND', async t => {
    const c = await cli(t);
    const r = await c.run(['sync', join(c.runtime, 'nowhere')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_NOT_FOUND\]/);
  });

  it('waits until the journal is sent, then exits 0', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.pendingOps = 2;
    const mountpoint = await recordedMount(t, c, wb);
    let done = false;
    const running = c.run(['sync', mountpoint]).finally(() => { done = true; });
    await sleep(150);
    assert.equal(done, false, 'sync waits for the journal');
    await wb.flush();
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no progress line when stderr is no terminal');
  });

  it('refused changes exit 1 with ERR_WRITEBACK_FAILED and list every one', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/a.txt'), failedOp('/w/b.txt', 'ENOSPC')];
    wb.pendingOps = 2;
    const mountpoint = await recordedMount(t, c, wb);
    const r = await c.run(['sync', mountpoint]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_WRITEBACK_FAILED\]/);
    for (const f of wb.failed) assert.ok(r.stderr.includes(`${f.op} ${f.path}: ${f.code}`), r.stderr);
  });

  it('--discard prints the paths it dropped', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.failed = [failedOp('/w/a.txt'), failedOp('/w/b.txt')];
    wb.pendingOps = 2;
    const mountpoint = await recordedMount(t, c, wb);
    const r = await c.run(['sync', mountpoint, '--discard']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(l => l !== ''), ['/w/a.txt', '/w/b.txt']);
    assert.deepEqual(wb.calls, ['discard']);
  });

  it('--retry asks the journal to retry', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    const mountpoint = await recordedMount(t, c, wb);
    assert.equal((await c.run(['sync', mountpoint, '--retry'])).code, 0);
    assert.deepEqual(wb.calls, ['retry']);
  });

  it('without a mountpoint outside any mount, syncs every mount', async t => {
    const c = await cli(t);
    const a = new FakeWriteBack();
    const b = new FakeWriteBack();
    await recordedMount(t, c, a);
    await recordedMount(t, c, b);
    assert.equal((await c.run(['sync'])).code, 0);
    assert.deepEqual([a.calls, b.calls], [['sync'], ['sync']]);
  });

  it('on a terminal, draws the pending changes on one line while it waits', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.pendingOps = 3;
    wb.pendingBytes = 3 * 1024 * 1024;
    const mountpoint = await recordedMount(t, c, wb);
    const running = c.run(['sync', mountpoint], true);
    await sleep(600);
    await wb.flush();
    const r = await running;
    assert.equal(r.code, 0);
    assert.ok(r.stderr.includes(`\r\x1b[K${mountpoint}: 3 changes (3.0 MiB) to send`), JSON.stringify(r.stderr));
  });
});

describe('rmount status and the write-back journal', () => {
  it('--json carries each mount\'s write-back status', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.pendingOps = 1;
    wb.failed = [failedOp('/w/a.txt')];
    await recordedMount(t, c, wb);
    const r = await c.run(['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [m] = JSON.parse(r.stdout) as MountStatus[];
    assert.deepEqual(m?.writeBack, JSON.parse(JSON.stringify(wb.status())));
  });

  it('shows the write-back block under the mount: mode, pending, refused and conflicts', async t => {
    const c = await cli(t);
    const wb = new FakeWriteBack();
    wb.pendingOps = 2;
    wb.failed = [failedOp('/w/a.txt')];
    await recordedMount(t, c, wb);
    const lines = (await c.run(['status'])).stdout.split('\n');
    assert.ok(lines.some(l => l.startsWith('  write-back on: 2 changes')), lines.join('\n'));
    assert.ok(lines.some(l => l.includes('refused: put /w/a.txt EACCES')), lines.join('\n'));
    assert.ok(lines.some(l => l.includes('conflict: /w/a.txt') && l.includes('/w/a.txt.remote-1')), lines.join('\n'));
  });

  it('lists a journal whose mount is gone, with its destination and counts', async t => {
    const c = await cli(t);
    const instance = join(c.state, 'journal', 'k1', 'i1');
    await mkdir(instance, { recursive: true });
    // pid 1 with another start time: a writer that is not running.
    await writeFile(join(instance, 'meta.json'), JSON.stringify({
      destination: 'devbox:src', addr: 'devbox', remotePath: '/home/me/src', mountpoint: '/mnt/x', pid: 1, pidStart: 'gone', startedAt: '2024-05-01T10:00:00Z',
    }));
    const op = (seq: number): string => JSON.stringify({ t: 'op', seq, op: { kind: 'mkdir', path: `/d${seq}` }, at: 0 });
    await writeFile(join(instance, 'log'), `${op(1)}\n${op(2)}\n${op(3)}\n${JSON.stringify({ t: 'fail', seq: 3, code: 'EACCES', message: 'no', at: 0 })}\n`);
    const r = await c.run(['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('journal waiting for devbox:src /home/me/src: 3 changes (1 refused); mount it again to send them'), r.stdout);
  });
});
