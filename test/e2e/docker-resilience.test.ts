/**
 * A container restarted, stopped or removed under a real mount, against a private dockerd, through
 * rmount-agent and through the agentless copy/exec client. The mount must ride out a restart (no
 * remount, open files intact, the agent uploaded again when /tmp was wiped), answer EIO within
 * its timeout while the container is down rather than hang, and end in `closed` with EIO at once
 * when the container was removed.
 */
import assert from 'node:assert/strict';
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import { goSkipReason, testAgentDist } from '../agent/agent-binary.ts';
import { suiteCleanup } from '../backends/docker/helpers.ts';
import { runCli } from '../helpers/cli.ts';
import { dockerdSkipReason, startDockerd, type DockerdFixture } from '../helpers/dockerd.ts';
import { alive, fuseSkipReason, isMounted, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import type { AfterHook } from '../helpers/sshd.ts';

/** The mount's op timeout (seconds) where a case waits for it to run out: short, so those cases stay quick. */
const TIMEOUT_S = 5;
/** Slack on top of a bound of the design, for a shared and busy 2-core machine. */
const SLACK_MS = 10_000;
/** How long the mount may take to work again once the container runs (reconnect, agent upload). */
const BACK_WITHIN_MS = 90_000;
const CASE = { timeout: 300_000 };

/** How a promise settled, or 'pending' once `ms` passed (an operation that never settles is a hang). */
type Outcome = { ok: true } | { ok: false; code: string | undefined } | 'pending';

async function settleWithin(p: Promise<unknown>, ms: number): Promise<Outcome> {
  const late = sleep(ms, 'pending' as const, { ref: false });
  return Promise.race([
    p.then((): Outcome => ({ ok: true }), (error: NodeJS.ErrnoException): Outcome => ({ ok: false, code: error.code })),
    late,
  ]);
}

/** Times `op` and says how it settled; a hang ends the wait after `limitMs`. */
async function timed(op: () => Promise<unknown>, limitMs: number): Promise<{ outcome: Outcome; ms: number }> {
  const started = Date.now();
  const outcome = await settleWithin(op(), limitMs);
  return { outcome, ms: Date.now() - started };
}

/** The parts of `rmount status --json` these cases look at. */
interface MountState {
  mountpoint: string;
  health: string;
  reason?: string;
  reconnects?: number;
  link?: { state: string };
}

async function statusOf(m: TestMount): Promise<MountState> {
  const r = await runCli(['status', '--json'], { env: m.env });
  assert.equal(r.code, 0, r.stderr);
  const mine = (JSON.parse(r.stdout.toString()) as MountState[]).find(s => s.mountpoint === m.mountpoint);
  assert.ok(mine, `rmount status lists ${m.mountpoint}`);
  return mine;
}

/** Polls status until `test` holds; fails with the last status seen. */
async function statusUntil(m: TestMount, what: string, test: (s: MountState) => boolean, limitMs = BACK_WITHIN_MS): Promise<MountState> {
  let last: MountState | undefined;
  const ok = await waitFor(async () => test(last = await statusOf(m)), limitMs, 500);
  assert.ok(ok, `status shows ${what} within ${limitMs / 1000}s; last: ${JSON.stringify(last)}`);
  return last!;
}

describe('a Docker container restarted or removed under a mount', { skip: fuseSkipReason() || dockerdSkipReason() }, () => {
  const hook = suiteCleanup();
  let d: DockerdFixture;
  let engine: Dockerode;

  before(async () => {
    d = await startDockerd(hook);
    engine = new Dockerode({ socketPath: d.socketPath });
    // The mount daemon is spawned by the CLI with this process's environment.
    process.env.DOCKER_HOST = d.host;
  }, { timeout: 180_000 });

  /** Runs a shell script in the container; resolves with its stdout. */
  const inContainer = (name: string, script: string, ...args: string[]): Promise<string> =>
    d.docker(['exec', name, 'sh', '-c', script, 'sh', ...args]);

  /**
   * A container whose /tmp is a tmpfs that allows exec: the agent goes there, and a restart wipes
   * it as a reboot of a real machine would. /work holds hello.txt.
   */
  async function container(): Promise<string> {
    const name = await d.run({ args: ['--tmpfs', '/tmp:rw,exec,mode=1777', '-w', '/work'] });
    await inContainer(name, 'echo hello > /work/hello.txt && mkdir -p /work/unlisted/1/2/3/4/5');
    return name;
  }

  /** True when the whole round trip works: list, read, write a new file, and the container has it. */
  async function works(m: TestMount, name: string, file: string): Promise<boolean> {
    try {
      if (!(await readdir(m.mountpoint)).includes('hello.txt')) return false;
      if ((await readFile(join(m.mountpoint, 'hello.txt'), 'utf8')) !== 'hello\n') return false;
      await writeFile(join(m.mountpoint, file), `${file}\n`);
      // The write-back journal sends it behind the write: fsync of the folder waits for it.
      const dir = await open(m.mountpoint, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return (await inContainer(name, 'cat "$1"', `/work/${file}`)) === `${file}\n`;
    } catch {
      return false;
    }
  }

  for (const [label, agent] of [['rmount-agent', 'yes'], ['agentless copy/exec', 'no']] as const) {
    describe(label, { skip: agent === 'yes' && goSkipReason() }, () => {
      if (agent === 'yes') {
        // The agent built from this checkout's sources, not whatever dist/agent holds; the mount
        // daemon inherits this process's environment.
        before(async () => { process.env.RMOUNT_AGENT_DIST = await testAgentDist(); }, { timeout: 300_000 });
        after(() => { delete process.env.RMOUNT_AGENT_DIST; });
      }

      const mount = (t: AfterHook, name: string, timeoutS: number): Promise<TestMount> =>
        mountFor(t, `docker://${name}/work`, { o: [`agent=${agent}`, `timeout=${timeoutS}`] });

      // The agent's file and process, as the container shows them.
      const agentFiles = async (name: string): Promise<string[]> =>
        (await inContainer(name, 'ls -a /tmp/.rmount-0 2>/dev/null; true')).split('\n').filter(f => f.startsWith('agent-'));
      const agentRuns = async (name: string): Promise<boolean> =>
        /\/tmp\/\.rmount-0\/agent-\S* sftp/.test(await inContainer(name, 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\000" " "; true'));

      it(`docker restart: the mount works again without a remount and status counts the reconnect${agent === 'yes' ? '; the agent is uploaded again to the wiped /tmp' : ''}`, CASE, async t => {
        const name = await container();
        const m = await mount(t, name, TIMEOUT_S);
        assert.ok(await works(m, name, 'before.txt'), 'the mount works before the restart');
        if (agent === 'yes') {
          assert.notDeepEqual(await agentFiles(name), [], 'the agent was uploaded to /tmp/.rmount-0');
          assert.ok(await agentRuns(name), 'the agent runs');
        }
        await inContainer(name, 'touch /tmp/wiped-by-restart');
        await engine.getContainer(name).restart({ t: 1 });
        assert.equal((await inContainer(name, 'ls -a /tmp')).includes('wiped-by-restart'), false, 'the restart wiped /tmp');

        assert.ok(await waitFor(() => works(m, name, 'after.txt'), BACK_WITHIN_MS, 500), 'the mount works again after the restart');
        assert.equal(await readFile(join(m.mountpoint, 'before.txt'), 'utf8'), 'before.txt\n');
        const s = await statusUntil(m, 'health ready with a reconnect', st => st.health === 'ready' && (st.reconnects ?? 0) >= 1);
        assert.equal(s.link?.state, 'ready');
        if (agent === 'yes') {
          assert.notDeepEqual(await agentFiles(name), [], 'the agent was uploaded again');
          assert.ok(await agentRuns(name), 'a new agent runs');
        }
      });

      it('stopped: an uncached operation fails with EIO within the timeout, and all works again once it runs, without a remount', CASE, async t => {
        const name = await container();
        await inContainer(name, 'echo unread > /work/unread.txt');
        const m = await mount(t, name, TIMEOUT_S);
        assert.ok(await works(m, name, 'before.txt'));
        await engine.getContainer(name).stop({ t: 1 });

        const bound = TIMEOUT_S * 1000 + SLACK_MS;
        for (const [what, op, answered] of [
          // In a folder never listed, deeper than listings are read ahead: while the link is down, a
          // name missing from a listed folder is answered from the listing. The agent reads whole
          // subtrees, and its watch keeps them: there the name is answered missing too.
          ['stat of a name never looked up', () => stat(join(m.mountpoint, 'unlisted', '1', '2', '3', '4', '5', 'never-seen')), agent === 'yes' ? 'ENOENT' : 'EIO'],
          // Its attributes may be cached from the listing, its content is not: open needs the container.
          ['read of a file never read', () => readFile(join(m.mountpoint, 'unread.txt')), 'EIO'],
        ] as const) {
          const { outcome, ms } = await timed(op, bound + 30_000);
          assert.notEqual(outcome, 'pending', `${what} hung while the container was stopped`);
          const codes = answered === 'EIO' ? ['EIO'] : [answered, 'EIO'];
          assert.ok(typeof outcome === 'object' && !outcome.ok && codes.includes(outcome.code ?? ''), `${what} while the container is stopped: ${JSON.stringify(outcome)}`);
          assert.ok(ms <= bound, `${what} failed after ${ms} ms, more than the timeout (${TIMEOUT_S} s) + ${SLACK_MS / 1000} s`);
        }
        // Past its lifetime by now, but the mount knows the container is down and answers from the cache.
        const cached = await timed(() => stat(join(m.mountpoint, 'hello.txt')), bound);
        assert.deepEqual(cached.outcome, { ok: true }, 'a cached stat answers while the container is stopped');
        const down = await statusOf(m);
        assert.equal(down.link?.state, 'reconnecting', `status while stopped: ${JSON.stringify(down)}`);

        await engine.getContainer(name).start();
        assert.ok(await waitFor(() => works(m, name, 'after.txt'), BACK_WITHIN_MS, 500), 'the mount works again once the container runs');
        assert.equal(await readFile(join(m.mountpoint, 'unread.txt'), 'utf8'), 'unread\n');
        // Health itself stays `degraded` for a while after the timeouts above: the link is what came back.
        const s = await statusUntil(m, 'the link ready with a reconnect', st => st.link?.state === 'ready' && (st.reconnects ?? 0) >= 1);
        assert.notEqual(s.health, 'closed');
      });

      it('a file open for writing across a docker restart: every byte reaches the container', CASE, async t => {
        const name = await container();
        // Long enough for the reconnect (and the agent's upload) to fit in one fsync.
        const m = await mount(t, name, 60);
        const lines = (tag: string): string => Array.from({ length: 200 }, (_, i) => `${tag} ${i}\n`).join('');
        const beforeRestart = lines('before');
        const afterRestart = lines('after');
        const fh = await open(join(m.mountpoint, 'across.log'), 'w');
        try {
          await fh.write(beforeRestart);
          await engine.getContainer(name).restart({ t: 1 });
          await fh.write(afterRestart);
          await fh.sync();
        } finally {
          await fh.close();
        }
        assert.equal(await inContainer(name, 'cat /work/across.log'), beforeRestart + afterRestart);
        assert.equal(await readFile(join(m.mountpoint, 'across.log'), 'utf8'), beforeRestart + afterRestart);
      });

      it('removed: status is closed naming the container, operations fail with EIO at once, and unmount leaves nothing behind', CASE, async t => {
        const name = await container();
        // A long timeout, so that failing "at once" cannot be mistaken for running out of it.
        const timeoutS = 60;
        const m = await mount(t, name, timeoutS);
        assert.ok(await works(m, name, 'before.txt'));
        await engine.getContainer(name).remove({ force: true });
        // The removal is noticed when the link looks (at the latest after its poll interval) or an operation fails.
        await stat(join(m.mountpoint, 'nudge')).catch(() => undefined);
        const s = await statusUntil(m, 'closed', st => st.health === 'closed', 60_000);
        assert.ok(s.reason?.includes(name), `the reason names the container: ${JSON.stringify(s)}`);

        for (const [what, op] of [
          // The remote is gone for good: no cache answers for it, and nothing is journaled for it.
          ['stat of a name never looked up', () => stat(join(m.mountpoint, 'never-seen'))],
          ['a write of a new file', () => writeFile(join(m.mountpoint, 'new.txt'), 'x')],
        ] as const) {
          const { outcome, ms } = await timed(op, timeoutS * 1000 + 30_000);
          assert.notEqual(outcome, 'pending', `${what} hung on a removed container`);
          assert.deepEqual(outcome, { ok: false, code: 'EIO' }, `${what} on a removed container`);
          assert.ok(ms < (timeoutS * 1000) / 2, `${what} took ${ms} ms: it waited instead of failing at once`);
        }

        const r = await runCli(['unmount', m.mountpoint], { env: m.env, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await isMounted(m.mountpoint), false);
        assert.ok(await waitFor(() => !alive(m.pid), 30_000), `the mount daemon ${m.pid} is gone`);
      });
    });
  }
});
