import assert from 'node:assert/strict';
import { mkdtemp, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { progressBar, registerAgent } from '../../src/cli/commands/agent.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { sshdSkipReason, startSshd } from '../helpers/sshd.ts';
import { goSkipReason, hostGoarch, testAgentDist } from './agent-binary.ts';

function context(): CliContext & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', c => { o += c; });
  stderr.on('data', c => { e += c; });
  return { stdout, stderr, env: process.env, exitCode: 0, out: () => o, err: () => e };
}

describe('rmount agent push/install (registerAgent)', () => {
  it('push puts the matching build of a template at --to with --mode, then reports it up to date', { skip: goSkipReason() || sshdSkipReason(), timeout: 60_000 }, async t => {
    const sshd = await startSshd(t, { sftp: false });
    const dist = await testAgentDist();
    const to = join(await mkdtemp(join(sshd.dir, 'push-')), 'bin/mytool');
    const args = ['--from', join(dist, `rmount-agent_{os}_{arch}`), '--to', to, '--mode', '0700', '-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
    for (const expect of [/^uploaded linux\/\w+ \(rmount-agent_linux_\w+\) → /, /^up to date: /]) {
      const ctx = context();
      const program = new Command().exitOverride();
      registerAgent(program, ctx);
      await program.parseAsync(['agent', 'push', `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, ...args], { from: 'user' });
      assert.match(ctx.out(), expect);
    }
    assert.equal((await stat(to)).mode & 0o777, 0o700);
    assert.ok(hostGoarch());
  });

  it('the progress bar draws only on a TTY and only over 1 MiB', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    let drawn = '';
    tty.on('data', c => { drawn += c; });
    const small = progressBar(tty, 'x');
    small.update(100, 1000);
    small.done();
    assert.equal(drawn, '');
    const big = progressBar(tty, 'agent');
    big.update(1 << 20, 2 << 20);
    big.update(2 << 20, 2 << 20);
    big.done();
    assert.match(drawn, /\ragent \[#+\.+\] 1\.0\/2\.0 MiB\ragent \[#+\] 2\.0\/2\.0 MiB\n$/);
    const pipe = new PassThrough();
    let piped = '';
    pipe.on('data', c => { piped += c; });
    const p = progressBar(pipe, 'agent');
    p.update(2 << 20, 4 << 20);
    p.done();
    assert.equal(piped, '');
  });
});
