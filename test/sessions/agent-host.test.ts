import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Duplex, type Readable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import { AgentHostClient, connectAgentHost } from '../../src/sessions/agent-host.ts';
import { SessionError } from '../../src/sessions/errors.ts';
import type { StartRequest } from '../../src/sessions/types.ts';
import { buildAgent, goSkipReason } from '../agent/agent-binary.ts';
import { connectLocalHost } from './local-host.ts';

/** Polls `cond` (async allowed); fails after a generous bound naming `what`. */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

/** Everything `stream` gives from now on, readable as it grows. */
function collect(stream: Readable): { text(): string; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks) };
}

/** What `seq 1 n` prints. */
function seqOutput(n: number): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(`${i}\n`);
  return Buffer.from(lines.join(''));
}

const skip = goSkipReason();

describe('AgentHostClient against a real rmount-agent host', { skip }, () => {
  let agent = '';
  let dir = '';

  /** A fresh connection (`rmount-agent connect --start` on stdio), closed after the test. */
  function connect(t: Pick<TestContext, 'after'>): Promise<AgentHostClient> {
    return connectLocalHost(t, agent, join(dir, 'host.sock'));
  }

  /** Starts a session; the suite removes every session before it stops the host. */
  async function start(client: AgentHostClient, request: StartRequest): Promise<string> {
    return (await client.start(request)).id;
  }

  before(async () => {
    agent = await buildAgent();
    // Short and private (mkdtemp makes it 0700): the host refuses a shared folder, and socket paths are short.
    dir = await mkdtemp('/tmp/rmh-');
  });

  after(async () => {
    if (dir === '') return;
    // The sessions first (force: kill and remove), then the host we started, by its pid.
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const client = await connect({ after: fn => cleanups.push(fn as () => Promise<void>) });
      const { pid } = await client.hello();
      for (const s of await client.list()) await client.remove(s.id, true);
      for (const fn of cleanups) await fn();
      process.kill(pid, 'SIGTERM');
      await until(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 'the host to exit');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hello names protocol 1 and the host process', async t => {
    const client = await connect(t);
    const hello = await client.hello();
    assert.equal(hello.protocol, 1);
    assert.equal(hello.os, 'linux');
    assert.equal(hello.pty, true);
    assert.ok(hello.pid > 0 && hello.pid !== process.pid);
  });

  it('attach with replay returns exactly the last 1,000,000 bytes of 3 MB of output', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sh', '-c', 'seq 1 450000; sleep 600'] });
    const all = seqOutput(450000);
    await until(async () => (await client.list()).find(s => s.id === id)?.total === all.length, 'all the output');
    const replays: Buffer[] = [];
    for (let i = 0; i < 2; i++) {
      const a = await client.attach(id, { replay: true });
      assert.deepEqual([a.info.total, a.info.buffered, a.info.state], [all.length, 1_000_000, 'running']);
      const out = collect(a.output);
      await until(() => out.bytes().length >= 1_000_000, 'the replay');
      a.detach();
      assert.deepEqual(await a.ended, { kind: 'closed' });
      replays.push(out.bytes());
    }
    assert.equal(replays[0]!.length, 1_000_000);
    assert.ok(replays[0]!.equals(all.subarray(all.length - 1_000_000)));
    assert.ok(replays[1]!.equals(replays[0]!));
  });

  it('two attachments both see what either types', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['cat'] });
    const [a, b] = [await client.attach(id, { replay: false }), await client.attach(id, { replay: false })];
    const [outA, outB] = [collect(a.output), collect(b.output)];
    a.input.write('from a\n');
    await until(() => outA.text() === 'from a\n' && outB.text() === 'from a\n', 'the echo of a');
    b.input.write('from b\n');
    await until(() => outA.text() === 'from a\nfrom b\n' && outB.text() === 'from a\nfrom b\n', 'the echo of b');
    assert.equal((await client.list()).find(s => s.id === id)?.clients, 2);
    a.detach();
    b.detach();
  });

  it('an exit code ends the attachment and stays in the list', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sh', '-c', 'read x; echo done; exit 7'], name: 'exit7' });
    const a = await client.attach('exit7', { replay: true });
    const out = collect(a.output);
    a.input.write('\n');
    assert.deepEqual(await a.ended, { kind: 'exit', code: 7 });
    assert.equal(out.text(), 'done\n');
    const info = (await client.list()).find(s => s.id === id);
    assert.deepEqual([info?.state, info?.exitCode], ['exited', 7]);
    const again = await client.attach(id, { replay: true });
    const replay = collect(again.output);
    assert.deepEqual(await again.ended, { kind: 'exit', code: 7 });
    assert.equal(replay.text(), 'done\n');
  });

  it('a killing signal ends the attachment and stays in the list', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sleep', '600'] });
    const a = await client.attach(id, { replay: true });
    a.output.resume();
    await client.kill(id, 'TERM');
    assert.deepEqual(await a.ended, { kind: 'signal', signal: 'TERM' });
    const info = (await client.list()).find(s => s.id === id);
    assert.deepEqual([info?.state, info?.signal], ['killed', 'TERM']);
    await assert.rejects(client.kill(id), { code: 'ERR_SESSION_EXITED' });
  });

  it('eofClosesInput ends the input of a session without a terminal', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sh', '-c', 'wc -c'] });
    const a = await client.attach(id, { replay: false, eofClosesInput: true });
    const out = collect(a.output);
    a.input.end('12345');
    assert.deepEqual(await a.ended, { kind: 'exit', code: 0 });
    assert.equal(out.text().trim(), '5');
  });

  it('a terminal session sees its resize (stty size)', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sh', '-c', 'stty size; read x; stty size; sleep 600'], tty: { cols: 100, rows: 30 } });
    const a = await client.attach(id, { replay: true });
    assert.equal(a.info.tty, true);
    const out = collect(a.output);
    await until(() => out.text().includes('30 100'), 'the first size');
    await client.resize(id, 120, 40);
    a.input.write('\r');
    await until(() => out.text().includes('40 120'), 'the new size');
    a.detach();
  });

  it('refusals carry the host codes', async t => {
    const client = await connect(t);
    await assert.rejects(client.attach('no-such-session', { replay: true }), (e: unknown) => e instanceof SessionError && e.code === 'ERR_SESSION_NOT_FOUND');
    const id = await start(client, { argv: ['sleep', '600'], name: 'taken' });
    await assert.rejects(client.start({ argv: ['true'], name: 'taken' }), { code: 'ERR_NAME_TAKEN' });
    await assert.rejects(client.resize(id, 80, 24), { code: 'ERR_NO_TTY' });
    await assert.rejects(client.remove(id), { code: 'ERR_SESSION_RUNNING' });
    await assert.rejects(client.start({ argv: ['/no/such/command'] }), { code: 'ERR_START_FAILED' });
    assert.deepEqual(await client.remove('taken', true), [id]);
  });

  it('removeExited removes ended sessions only', async t => {
    const client = await connect(t);
    const running = await start(client, { argv: ['sleep', '600'] });
    const done = await start(client, { argv: ['true'] });
    await until(async () => (await client.list()).find(s => s.id === done)?.state === 'exited', 'true to exit');
    const removed = await client.removeExited();
    assert.ok(removed.includes(done));
    const ids = (await client.list()).map(s => s.id);
    assert.ok(ids.includes(running) && !ids.includes(done));
  });

  it('an attachment that is not read stalls neither requests nor another attachment', async t => {
    const client = await connect(t);
    const total = 5_000_000;
    const flood = await start(client, { argv: ['sh', '-c', `read x; head -c ${total} /dev/zero; sleep 600`] });
    const stalled = await client.attach(flood, { replay: false });
    let dropped = 0;
    stalled.onDropped = bytes => { dropped += bytes; };
    stalled.input.write('\n');
    await until(async () => (await client.list()).find(s => s.id === flood)?.total === total, 'the flood to be produced');
    const echo = await start(client, { argv: ['cat'] });
    const live = await client.attach(echo, { replay: false });
    const out = collect(live.output);
    live.input.write('still here\n');
    await until(() => out.text() === 'still here\n', 'the echo beside the stalled stream');
    live.detach();
    // Reading now: what the host skipped while we did not read is reported, not lost silently.
    let received = 0;
    stalled.output.on('data', (chunk: Buffer) => { received += chunk.length; });
    await until(() => received + dropped === total, 'the rest of the flood');
    assert.ok(dropped > 0);
    stalled.detach();
  });

  it('dial carries 1 MiB both ways to a TCP echo server', async t => {
    const server = createServer(socket => socket.pipe(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const client = await connect(t);
    const stream = await client.mux.dial('tcp', `127.0.0.1:${(server.address() as AddressInfo).port}`);
    const sent = randomBytes(1 << 20);
    const back = collect(stream);
    stream.end(sent);
    await once(stream, 'end');
    assert.ok(back.bytes().equals(sent));
  });

  it('dial to a closed port is ERR_DIAL_FAILED', async t => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await new Promise(resolve => server.close(resolve));
    const client = await connect(t);
    await assert.rejects(client.mux.dial('tcp', `127.0.0.1:${port}`), { code: 'ERR_DIAL_FAILED' });
  });

  it('a peer that does not speak the protocol is refused with ERR_HOST_PROTOCOL', async () => {
    // What an agent without `connect` does: usage on stderr, exit 2, nothing on stdout.
    const child = spawn(agent, ['connect-from-the-future'], { stdio: ['pipe', 'pipe', 'ignore'] });
    await assert.rejects(connectAgentHost(Duplex.from({ readable: child.stdout, writable: child.stdin })), { code: 'ERR_HOST_PROTOCOL' });
    const talker = spawn('sh', ['-c', 'echo I am not a process host; cat >/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    await assert.rejects(connectAgentHost(Duplex.from({ readable: talker.stdout, writable: talker.stdin })), { code: 'ERR_HOST_PROTOCOL' });
    talker.kill();
  });

  it('closing the connection ends attachments with closed; the session runs on', async t => {
    const client = await connect(t);
    const id = await start(client, { argv: ['sleep', '600'] });
    const a = await client.attach(id, { replay: true });
    a.output.resume();
    client.close();
    assert.deepEqual(await a.ended, { kind: 'closed' });
    await assert.rejects(client.list(), { code: 'ERR_HOST_LOST' });
    const other = await connect(t);
    assert.equal((await other.list()).find(s => s.id === id)?.state, 'running');
  });
});
