/**
 * The control socket of a real mount: its file modes, the ownership check that stands in for
 * SO_PEERCRED, and refusing a peer of another uid (nobody, through setpriv).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectControl } from '../../src/control/client.ts';
import type { MountStatusPayload } from '../../src/control/protocol.ts';
import { readRecord } from '../../src/mount/registry.ts';
import { cleanupStack, fuseSkipReason, mountFor, type TestMount } from '../helpers/mount.ts';
import { which } from '../helpers/skip.ts';

const NOBODY = 65534;

/** Why the other-uid tests cannot run: they need root (to become nobody) and setpriv. */
function otherUidSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to run a peer as another uid';
  if (which('setpriv') === undefined) return 'setpriv missing (util-linux)';
  return false;
}

/**
 * A raw protocol peer: reads the hello, tries to create the challenge file, sends auth and a
 * status request, and prints every envelope it gets. Connects to argv[1], or uses fd 3.
 */
const PEER = `
const net = require('node:net'), fs = require('node:fs');
const s = process.argv[1] ? net.connect(process.argv[1]) : new net.Socket({ fd: 3, readable: true, writable: true });
let buf = '', greeted = false;
s.on('error', e => { console.log(JSON.stringify({ type: 'socket-error', payload: { code: e.code } })); process.exit(0); });
s.on('data', d => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    const e = JSON.parse(line);
    if (!greeted) {
      greeted = true;
      try { fs.writeFileSync(e.payload.challenge, e.payload.nonce, { flag: 'wx', mode: 0o600 }); } catch (err) { console.log(JSON.stringify({ type: 'create-failed', payload: { code: err.code } })); }
      s.write('{"type":"auth"}\\n{"type":"status"}\\n');
      continue;
    }
    console.log(JSON.stringify({ type: e.type, payload: e.type === 'status' ? { pid: e.payload.pid } : e.payload }));
  }
});
s.on('close', () => process.exit(0));
`;

/** Runs PEER as `uid` (via setpriv when not our own) and returns the envelope types it saw. */
function runPeer(uid: number, target: { path: string } | { socket: Socket }): Promise<{ type: string; payload?: { code?: string } }[]> {
  const node = ['node', '-e', PEER, 'path' in target ? target.path : ''];
  const argv = uid === process.getuid?.() ? node : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...node];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit', 'socket' in target ? target.socket : 'ignore'],
      cwd: '/',
      timeout: 30_000,
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b; });
    child.on('error', reject);
    child.on('close', () => resolve(out.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { type: string })));
  });
}

describe('control socket of a mount', { skip: fuseSkipReason(), timeout: 120_000 }, () => {
  const stack = cleanupStack({ after });
  let m: TestMount;
  let socketPath: string;

  before(async () => {
    const back = await mkdtemp(join(tmpdir(), 'rmount-ctl-back-'));
    stack.after(() => rm(back, { recursive: true, force: true }));
    m = await mountFor(stack, `local:${back}`);
    const record = await readRecord(m.env.RMOUNT_RUNTIME_DIR!, m.mountpoint);
    assert.ok(record?.socket !== undefined, 'the runtime record names the socket');
    socketPath = record.socket;
  });

  it('the socket is mode 0600 in a 0700 folder and recorded in the runtime record', async () => {
    assert.equal(socketPath.startsWith(m.env.RMOUNT_RUNTIME_DIR!), true);
    const st = await stat(socketPath);
    assert.equal(st.isSocket(), true);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await stat(m.env.RMOUNT_RUNTIME_DIR!)).mode & 0o777, 0o700);
  });

  it('the owner passes the ownership check and gets status and health', async () => {
    const client = await connectControl(socketPath);
    try {
      const status = await client.request<MountStatusPayload>('status');
      assert.equal(status.pid, m.pid);
      assert.equal(status.mountpoint, m.mountpoint);
      const health = await client.request<{ state: string; link: { state: string; reconnects: number } }>('health');
      assert.equal(health.state, 'ready');
      assert.equal(health.link.state, 'ready');
      assert.equal(health.link.reconnects, 0);
    } finally {
      client.close();
    }
  });

  it('a raw peer of our own uid that proves ownership is answered', async () => {
    const seen = await runPeer(process.getuid!(), { path: socketPath });
    assert.deepEqual(seen.map(e => e.type), ['ok', 'status']);
  });

  it('another uid cannot connect to the socket at all (EACCES from the kernel)', { skip: otherUidSkip() }, async () => {
    const seen = await runPeer(NOBODY, { path: socketPath });
    assert.deepEqual(seen, [{ type: 'socket-error', payload: { code: 'EACCES' } }]);
  });

  it('another uid handed a connected socket is refused by the ownership check', { skip: otherUidSkip() }, async () => {
    const socket = connect(socketPath);
    socket.pause();
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    try {
      const seen = await runPeer(NOBODY, { socket });
      // It cannot create the challenge file in our 0700 folder, and is refused before any answer.
      assert.deepEqual(seen.map(e => e.type), ['create-failed', 'error']);
      assert.equal(seen[1]!.payload?.code, 'ERR_PERMISSION');
    } finally {
      socket.destroy();
    }
  });

  it('a peer that sends a request before auth is refused', async () => {
    const socket = connect(socketPath);
    const answers = await new Promise<string[]>(resolve => {
      let buf = '';
      socket.on('data', d => {
        buf += d;
        if (buf.split('\n').length === 2) socket.write('{"type":"status"}\n');
      });
      socket.on('close', () => resolve(buf.split('\n').filter(l => l !== '')));
    });
    assert.equal(answers.length, 2);
    assert.deepEqual(JSON.parse(answers[1]!).payload.code, 'ERR_PERMISSION');
  });
});
