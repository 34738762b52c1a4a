/**
 * `run` through a real rmount-agent host (what `rmount exec` and the stubs use inside a mount):
 * separate stdout and stderr, exit codes and signals, stdin to EOF, a terminal, and the
 * "connection lost" ending when the host goes away mid-command.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { AgentHostClient } from '../../src/sessions/agent-host.ts';
import { runOnHost } from '../../src/sessions/host-run.ts';
import { buildAgent, goSkipReason } from '../agent/agent-binary.ts';
import { connectLocalHost } from './local-host.ts';

function text(stream: Readable): Promise<string> {
  return new Promise(resolve => {
    const chunks: Buffer[] = [];
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

describe('run through a real rmount-agent host', { skip: goSkipReason() }, () => {
  let agent = '';
  let dir = '';
  let hostPid = 0;

  async function connect(t: Pick<TestContext, 'after'>): Promise<AgentHostClient> {
    const client = await connectLocalHost(t, agent, join(dir, 'host.sock'));
    hostPid = (await client.hello()).pid;
    return client;
  }

  before(async () => {
    agent = await buildAgent();
    dir = await mkdtemp('/tmp/rmr-');
  });
  after(async () => {
    if (hostPid > 0) {
      try { process.kill(hostPid, 'SIGTERM'); } catch { /* gone already */ }
    }
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('keeps stdout and stderr apart and passes the exit code, cwd and environment', async t => {
    const host = await connect(t);
    const s = await runOnHost(host.mux, ['sh', '-c', 'echo out; echo err >&2; pwd; echo "$GREETING"; exit 3'], { cwd: '/tmp', env: { GREETING: 'hi there' } }, 'test');
    s.stdin.end();
    const [out, err, status] = await Promise.all([text(s.stdout), text(s.stderr), s.wait()]);
    assert.equal(out, 'out\n/tmp\nhi there\n');
    assert.equal(err, 'err\n');
    assert.deepEqual(status, { code: 3, signal: null });
  });

  it('feeds stdin to EOF, and a signal ends the command', async t => {
    const host = await connect(t);
    const cat = await runOnHost(host.mux, ['sh', '-c', 'tr a-z A-Z'], {}, 'test');
    const out = text(cat.stdout);
    void text(cat.stderr);
    cat.stdin.write('hello ');
    cat.stdin.end('world\n');
    assert.equal(await out, 'HELLO WORLD\n');
    assert.deepEqual(await cat.wait(), { code: 0, signal: null });

    const sleeper = await runOnHost(host.mux, ['sleep', '600'], {}, 'test');
    void text(sleeper.stdout);
    void text(sleeper.stderr);
    await sleeper.kill('SIGTERM');
    assert.deepEqual(await sleeper.wait(), { code: null, signal: 'SIGTERM' });
  });

  it('gives a terminal when asked, and follows a resize', async t => {
    const host = await connect(t);
    const s = await runOnHost(host.mux, ['sh', '-c', 'stty size; read x; stty size'], { pty: { cols: 91, rows: 33 } }, 'test');
    assert.equal(s.pty, true);
    const chunks: Buffer[] = [];
    s.stdout.on('data', (b: Buffer) => chunks.push(b));
    void text(s.stderr);
    const seen = async (want: string): Promise<void> => {
      for (let i = 0; i < 3000 && !Buffer.concat(chunks).toString().includes(want); i++) await new Promise(r => setTimeout(r, 20));
    };
    await seen('33 91');
    s.resize(120, 40);
    await new Promise(r => setTimeout(r, 200));
    s.stdin.write('\n');
    await seen('40 120');
    assert.match(Buffer.concat(chunks).toString(), /33 91[\s\S]*40 120/);
    assert.deepEqual(await s.wait(), { code: 0, signal: null });
  });

  it('a command the host cannot start is refused with ERR_START_FAILED', async t => {
    const host = await connect(t);
    await assert.rejects(runOnHost(host.mux, ['no-such-command-here'], {}, 'test'), { code: 'ERR_START_FAILED' });
  });

  it('a command cut by a lost connection ends with 255 and says so on stderr', async t => {
    const host = await connect(t);
    const s = await runOnHost(host.mux, ['sleep', '600'], {}, 'the remote');
    void text(s.stdout);
    const err = text(s.stderr);
    host.close();
    assert.deepEqual(await s.wait(), { code: 255, signal: null });
    assert.match(await err, /connection to the remote lost/);
  });
});
