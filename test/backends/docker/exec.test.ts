import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { APP_USER, dockerdSkipReason } from '../../helpers/dockerd.ts';
import { backendFor, collect, suiteCleanup, suiteDockerd } from './helpers.ts';

describe('DockerBackend exec against a real dockerd', { skip: dockerdSkipReason(), timeout: 300_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();
  let name = '';
  const backend = async () => backendFor(hook, dockerd(), `docker://${name}`);

  it('starts a container', async () => {
    name = await dockerd().run({ args: ['-w', '/tmp'] });
  });

  for (const code of [0, 1, 42]) {
    it(`exec of "exit ${code}" reports exit code ${code}`, async () => {
      const b = await backend();
      const s = await b.exec(['sh', '-c', `exit ${code}`]);
      s.stdin.end();
      const r = await collect(s);
      assert.equal(r.code, code);
      assert.equal(r.signal, null);
    });
  }

  it('exec keeps stderr apart from stdout', async () => {
    const b = await backend();
    const s = await b.exec(['sh', '-c', 'echo out; echo err >&2; echo out2']);
    s.stdin.end();
    const r = await collect(s);
    assert.equal(r.stdout.toString(), 'out\nout2\n');
    assert.equal(r.stderr, 'err\n');
  });

  it('exec round-trips 10 MiB of binary stdin through cat, and stdin EOF ends it', async () => {
    const b = await backend();
    const data = randomBytes(10 << 20);
    const s = await b.exec(['cat']);
    s.stdin.end(data);
    const r = await collect(s);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, data.length);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('exec passes env, cwd and user', async () => {
    const b = await backend();
    const s = await b.exec(['sh', '-c', 'echo "$FOO|$(pwd)|$(id -u)"'], { env: { FOO: 'a b$c' }, cwd: '/bin', user: String(APP_USER.uid) });
    s.stdin.end();
    const r = await collect(s);
    assert.equal(r.stdout.toString(), `a b$c|/bin|${APP_USER.uid}\n`);
  });

  it('exec with a ~ cwd runs in the home of the user', async () => {
    const b = await backend();
    const s = await b.exec(['pwd'], { cwd: '~', user: APP_USER.name });
    s.stdin.end();
    assert.equal((await collect(s)).stdout.toString(), `${APP_USER.home}\n`);
  });

  it('exec with a TTY merges output, sees a terminal and takes a resize', async () => {
    const b = await backend();
    const s = await b.exec(['sh', '-c', 'test -t 0 && echo tty; sleep 0.5; stty size'], { pty: { cols: 80, rows: 24 } });
    assert.equal(s.pty, true);
    await sleep(200);
    s.resize(100, 30);
    const r = await collect(s);
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), /tty\r?\n/);
    assert.match(r.stdout.toString(), /30 100/);
    assert.equal(r.stderr, '');
  });

  it('kill SIGTERM of a sleeping command reports SIGTERM (exit 143)', async () => {
    const b = await backend();
    const s = await b.exec(['sleep', '300']);
    const started = Date.now();
    await sleep(300);
    await s.kill('SIGTERM');
    const r = await collect(s);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.code, null);
    assert.ok(Date.now() - started < 10_000);
  });

  it('exec of a missing program fails ERR_NOT_FOUND or exits 126/127', async () => {
    const b = await backend();
    try {
      const s = await b.exec(['no-such-program-x']);
      s.stdin.end();
      const r = await collect(s);
      assert.ok(r.code === 126 || r.code === 127, `exit ${r.code}`);
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'ERR_NOT_FOUND');
    }
  });
});
