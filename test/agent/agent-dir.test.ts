import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AGENT_DIR_FNS, describeRefusal, permsMode } from '../../src/agent/agent-dir.ts';
import { installAgent } from '../../src/agent/install.ts';
import type { DockerBackend } from '../../src/backends/docker/backend.ts';
import type { SshBackend } from '../../src/backends/ssh/backend.ts';
import { APP_USER, dockerdSkipReason } from '../helpers/dockerd.ts';
import { sshdSkipReason, startSshd, type SshdFixture } from '../helpers/sshd.ts';
import { backendFor, collect, suiteCleanup as dockerCleanup, suiteDockerd } from '../backends/docker/helpers.ts';
import { connectBackend, suiteCleanup } from '../backends/ssh/helpers.ts';
import { goSkipReason, testAgentDist } from './agent-binary.ts';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;

/** An error of installAgent: its code, and the message that names the folders. */
type Rejected = Error & { code?: string };

describe('refusal words', () => {
  it('permsMode reads ls permission strings, special bits included', () => {
    for (const [perms, mode] of [['drwxrwxrwt', 0o1777], ['drwx------', 0o700], ['drwxr-sr-x', 0o2755], ['-rwSr--r--', 0o4644], ['drwxrwxrwT', 0o1776], ['drwxr-xr-x.', 0o755]] as const) {
      assert.equal(permsMode(perms), mode, perms);
    }
  });

  it('describeRefusal says whether others or only the group may write', () => {
    assert.match(describeRefusal(['MODE', 'drwxrwxrwx'], '0'), /mode 0777 lets others write/);
    assert.match(describeRefusal(['MODE', 'drwxrwx---'], '0'), /mode 0770 lets its group write/);
    assert.match(describeRefusal(['OWNER', '65534'], '1000'), /uid 65534.*uid 1000/);
  });
});

// The folder decision itself, run by this machine's shells against local folders.
const shells: [string, string[]][] = [['sh', []], ...(existsSync('/bin/busybox') ? [['/bin/busybox', ['sh']] as [string, string[]]] : [])];

for (const [shell, pre] of shells) {
  describe(`agent folder checks in ${[shell, ...pre].join(' ')}`, () => {
    let base: string;
    before(async () => { base = await mkdtemp(join(tmpdir(), 'rmount-agentdir-')); });
    after(() => rm(base, { recursive: true, force: true }));

    // "OK <real path>" or "NO <why…>" for a folder.
    async function decide(dir: string): Promise<string> {
      const script = `${AGENT_DIR_FNS}\nad_expand "$1"; if ad_use "$e"; then printf 'OK %s' "$r"; else printf 'NO %s' "$why"; fi`;
      return (await run(shell, [...pre, '-c', script, 'sh', dir])).stdout.replaceAll('\t', ' ');
    }

    it('a missing folder is made with mode 0700 and used', async () => {
      const d = join(base, 'missing', 'agent');
      assert.equal(await decide(d), `OK ${d}`);
      assert.equal((await stat(d)).mode & 0o7777, 0o700);
    });

    it('{uid} is the login\'s uid', async () => {
      assert.equal(await decide(join(base, 'u-{uid}')), `OK ${join(base, `u-${process.getuid!()}`)}`);
    });

    it('a folder others can write is refused with its mode', async () => {
      const d = join(base, 'wide');
      await mkdir(d);
      await chmod(d, 0o777);
      assert.equal(await decide(d), 'NO MODE drwxrwxrwx');
    });

    it('a symbolic link is refused even to a good folder', async () => {
      const good = join(base, 'good');
      await mkdir(good, { mode: 0o700 });
      await symlink(good, join(base, 'link'));
      assert.equal(await decide(join(base, 'link')), 'NO LINK');
    });

    it('a folder inside one that others can write, without the sticky bit, is refused', async () => {
      const open = join(base, 'open');
      await mkdir(open);
      await chmod(open, 0o777);
      assert.match(await decide(join(open, 'agent')), new RegExp(`^NO ABOVE ${open} \\d+ drwxrwxrwx$`));
      const sticky = join(base, 'sticky');
      await mkdir(sticky);
      await chmod(sticky, 0o1777);
      assert.equal(await decide(join(sticky, 'agent')), `OK ${join(sticky, 'agent')}`);
    });

    it('a folder of another uid is refused with that uid', { skip: isRoot ? false : 'chown needs root' }, async () => {
      const d = join(base, 'theirs');
      await mkdir(d, { mode: 0o700 });
      await chown(d, 65534, 65534);
      assert.equal(await decide(d), 'NO OWNER 65534');
    });
  });
}

describe('agent folders over a real sshd', { skip: goSkipReason() || sshdSkipReason() }, () => {
  let sshd: SshdFixture;
  let backend: SshBackend;
  let dist: string;
  let base: string;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup, { sftp: false });
    backend = await connectBackend(cleanup, sshd);
    dist = await testAgentDist();
    // Never the machine's real /tmp/.rmount-*: other tests and users share those.
    base = await mkdtemp(join(sshd.dir, 'dirs-'));
  });

  async function folder(name: string, mode: number, uid?: number): Promise<string> {
    const d = join(base, name);
    await mkdir(d);
    await chmod(d, mode);
    if (uid !== undefined) await chown(d, uid, uid);
    return d;
  }

  it('a folder owned by another uid is refused and the next one is made 0700 and used', async () => {
    const theirs = await folder('theirs', 0o755, 65534);
    const next = join(base, 'next');
    const r = await installAgent(backend, { from: dist, candidates: [theirs, next] });
    assert.ok(r.remotePath.startsWith(`${next}/`), r.remotePath);
    const st = await stat(next);
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(st.uid, process.getuid!());
  });

  it('a folder of the login with mode 0777 is refused', async () => {
    const wide = await folder('wide', 0o777);
    const next = join(base, 'after-wide');
    const r = await installAgent(backend, { from: dist, candidates: [wide, next] });
    assert.ok(r.remotePath.startsWith(`${next}/`), r.remotePath);
  });

  it('a symbolic link to a good folder is refused', async () => {
    const good = await folder('good', 0o700);
    const link = join(base, 'link');
    await symlink(good, link);
    const next = join(base, 'after-link');
    const r = await installAgent(backend, { from: dist, candidates: [link, next] });
    assert.ok(r.remotePath.startsWith(`${next}/`), r.remotePath);
  });

  it('{uid} in a candidate becomes the login\'s uid', async () => {
    const r = await installAgent(backend, { from: dist, candidates: [join(base, 'per-user-{uid}')] });
    assert.ok(r.remotePath.startsWith(`${join(base, `per-user-${process.getuid!()}`)}/`), r.remotePath);
  });

  it('when every folder is refused, the error names each one and why', async () => {
    const theirs = await folder('theirs-2', 0o700, 65534);
    const wide = await folder('wide-2', 0o777);
    const link = join(base, 'link-2');
    await symlink(await folder('good-2', 0o700), link);
    const inside = join(wide, 'agent');
    await assert.rejects(installAgent(backend, { from: dist, candidates: [theirs, wide, link, inside] }), (e: Rejected) => {
      assert.equal(e.code, 'ERR_PERMISSION');
      assert.ok(e.message.includes(`${theirs}: owned by uid 65534`), e.message);
      assert.ok(e.message.includes(`${wide}: mode 0777`), e.message);
      assert.ok(e.message.includes(`${link}: a symbolic link`), e.message);
      assert.ok(e.message.includes(`${inside}: ${wide} above it`), e.message);
      return true;
    });
  });

  it('push --to refuses a folder others can write, and puts the file in a safe one', async () => {
    const wide = await folder('push-wide', 0o777);
    await assert.rejects(installAgent(backend, { from: dist, remotePath: join(wide, 'tool') }), (e: Rejected) =>
      e.code === 'ERR_PERMISSION' && e.message.includes(wide));
    const to = join(base, 'push-new', 'tool');
    const r = await installAgent(backend, { from: dist, remotePath: to });
    assert.equal(r.remotePath, to);
    assert.equal((await stat(join(base, 'push-new'))).mode & 0o777, 0o700);
  });

  it('a copy with the right checksum that others could write is replaced, not trusted', async () => {
    const d = await folder('planted', 0o700);
    const first = await installAgent(backend, { from: dist, candidates: [d] });
    await chmod(first.remotePath, 0o666);
    const again = await installAgent(backend, { from: dist, candidates: [d] });
    assert.equal(again.uploaded, true);
    assert.equal((await lstat(first.remotePath)).mode & 0o777, 0o755);
    assert.equal((await installAgent(backend, { from: dist, candidates: [d] })).uploaded, false);
  });
});

describe('agent folders in a container run as a non-root user', { skip: goSkipReason() || dockerdSkipReason(), timeout: 600_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = dockerCleanup();
  let dist: string;
  before(async () => { dist = await testAgentDist(); }, { timeout: 300_000 });

  it('a /tmp/.rmount-<uid> made first by someone else is refused and the next folder is used', async () => {
    const name = await dockerd().run({ args: ['--user', `${APP_USER.uid}:${APP_USER.gid}`] });
    // Someone else (root here) takes the shared name first; /var/tmp is made as images usually have it.
    await dockerd().docker(['exec', '-u', '0', name, 'sh', '-c', `mkdir -m 0777 /tmp/.rmount-${APP_USER.uid} && mkdir -p /var/tmp && chmod 1777 /var/tmp`]);
    const backend: DockerBackend = await backendFor(hook, dockerd(), `docker://${name}`);
    const r = await installAgent(backend, { from: dist });
    assert.match(r.remotePath, new RegExp(`^/var/tmp/\\.rmount-${APP_USER.uid}/agent-`));
    const ls = await collect(await backend.exec(['ls', '-ldn', `/var/tmp/.rmount-${APP_USER.uid}`]));
    assert.match(ls.stdout.toString(), new RegExp(`^drwx------\\s+\\d+\\s+${APP_USER.uid}\\s`));
    const v = await collect(await backend.exec([r.remotePath, 'version']));
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout.toString(), /^rmount-agent test /);
  });
});
