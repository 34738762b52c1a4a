import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { machine, type as osType } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { platformFromUname } from '../../../src/remote/platform.ts';
import { sshdSkipReason, startSshd, type SshdFixture } from '../../helpers/sshd.ts';
import { connectBackend, run, suiteCleanup } from './helpers.ts';

const skip = sshdSkipReason();

describe('SshBackend exec against a real sshd', { skip }, () => {
  let sshd: SshdFixture;
  let backend: SshBackend;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup);
    backend = await connectBackend(cleanup, sshd);
  });

  it('start connects and reports the address and user', () => {
    assert.equal(backend.isConnected(), true);
    assert.equal(backend.addr, `${sshd.user}@127.0.0.1:${sshd.port}`);
    assert.equal(backend.user, sshd.user);
    assert.equal(backend.lastError(), undefined);
  });

  for (const code of [0, 1, 42]) {
    it(`exec reports exit code ${code}`, async () => {
      const result = await run(backend, ['sh', '-c', `exit ${code}`]);
      assert.deepEqual({ code: result.code, signal: result.signal }, { code, signal: null });
    });
  }

  it('exec keeps stdout and stderr apart', async () => {
    const result = await run(backend, ['sh', '-c', 'echo out; echo err >&2']);
    assert.equal(result.stdout.toString(), 'out\n');
    assert.equal(result.stderr.toString(), 'err\n');
  });

  it('exec passes env through', async () => {
    const result = await run(backend, ['sh', '-c', 'printf %s "$RMOUNT_A|$RMOUNT_B"'], { env: { RMOUNT_A: 'one two', RMOUNT_B: "it's $HOME" } });
    assert.equal(result.stdout.toString(), "one two|it's $HOME");
  });

  it('exec runs in a cwd with spaces', async () => {
    const dir = join(sshd.dir, 'a dir with spaces');
    assert.equal((await run(backend, ['mkdir', '-p', dir])).code, 0);
    const result = await run(backend, ['pwd'], { cwd: dir });
    assert.equal(result.stdout.toString(), `${dir}\n`);
  });

  it('exec with a ~ cwd starts in the home folder', async () => {
    const result = await run(backend, ['pwd'], { cwd: '~' });
    assert.equal(result.stdout.toString().trim(), (await run(backend, ['sh', '-c', 'echo $HOME'])).stdout.toString().trim());
  });

  it('exec hands hostile arguments to the program unchanged', async () => {
    const marker = join(sshd.dir, 'pwned');
    const args = [`$(touch ${marker})`, '`touch x`', "it's", 'say "hi"', 'line1\nline2', '*', '', ' lead', 'trail ', ';', '|', '&&', '\\', '~', '$HOME', '#x'];
    const result = await run(backend, ['printf', '%s\\0', ...args]);
    assert.equal(result.code, 0);
    assert.deepEqual(result.stdout.toString().split('\0').slice(0, -1), args);
    assert.equal(existsSync(marker), false);
  });

  it('exec delivers stdin and then end-of-file', async () => {
    assert.equal((await run(backend, ['cat'], {}, 'hello')).stdout.toString(), 'hello');
    assert.equal((await run(backend, ['wc', '-c'], {}, '')).stdout.toString().trim(), '0');
  });

  it('exec round-trips 10 MiB of binary data through cat', async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const result = await run(backend, ['cat'], {}, data);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.length, data.length);
    assert.equal(createHash('sha256').update(result.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('exec under a pty sees its size and a resize', async () => {
    const session = await backend.exec(['sh', '-c', 'stty size; read line; stty size'], { pty: { cols: 80, rows: 24, term: 'xterm' } });
    assert.equal(session.pty, true);
    let output = '';
    const seen = (text: string): Promise<void> => new Promise(resolve => {
      const check = (): void => { if (output.includes(text)) { session.stdout.off('data', onData); resolve(); } };
      const onData = (c: Buffer): void => { output += c.toString(); check(); };
      session.stdout.on('data', onData);
      check();
    });
    await seen('24 80');
    session.resize(100, 40);
    session.stdin.write('\n');
    await seen('40 100');
    session.stdout.resume();
    const status = await session.wait();
    assert.equal(status.code, 0);
  });

  it('kill with SIGTERM ends the command and wait reports the signal', async () => {
    const session = await backend.exec(['sh', '-c', 'echo ready; exec sleep 30']);
    await new Promise<void>(resolve => session.stdout.once('data', () => resolve()));
    session.stdout.resume();
    session.stderr.resume();
    await session.kill('SIGTERM');
    assert.deepEqual(await session.wait(), { code: null, signal: 'SIGTERM' });
  });

  it('an aborted signal kills a running command', async () => {
    const controller = new AbortController();
    const session = await backend.exec(['sh', '-c', 'echo ready; exec sleep 30'], { signal: controller.signal });
    await new Promise<void>(resolve => session.stdout.once('data', () => resolve()));
    session.stdout.resume();
    controller.abort();
    assert.equal((await session.wait()).signal, 'SIGTERM');
  });

  it('concurrent execs on one connection all complete', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => run(backend, ['sh', '-c', `echo ${i}`])));
    assert.deepEqual(results.map(r => r.stdout.toString()), Array.from({ length: 8 }, (_, i) => `${i}\n`));
  });

  it('detectPlatform maps this machine\'s uname', async () => {
    assert.deepEqual(await backend.detectPlatform(), platformFromUname(osType(), machine()));
  });

  it('resolvePath keeps absolute paths and resolves ~, relative and missing paths against home', async () => {
    const home = (await run(backend, ['sh', '-c', 'cd && pwd -P'])).stdout.toString().trim();
    assert.equal(await backend.resolvePath('/etc//ssh/'), '/etc/ssh');
    assert.equal(await backend.resolvePath(), home);
    assert.equal(await backend.resolvePath('~'), home);
    assert.equal(await backend.resolvePath('~/src/x'), join(home, 'src/x'));
    assert.equal(await backend.resolvePath('src'), join(home, 'src'));
  });
});
