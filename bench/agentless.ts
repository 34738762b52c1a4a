/**
 * The agentless Docker client (`-o agent=no`) against rmount-agent (`-o agent=yes`) through two
 * mounts of the same container, in one run, on small-file work:
 *
 *   node --import tsx bench/agentless.ts                  # 300 files
 *   BENCH_FILES=100 node --import tsx bench/agentless.ts
 *
 * Each workload runs in a fresh folder per mount, agentless first, then the agent:
 *   - create: writeFile of BENCH_FILES small files one after the other (until the last close);
 *   - stat: `ls -l` of that folder through a new mount (cold caches), then `cat` of every file;
 *   - tar -x of a BENCH_FILES-file tree (10 folders);
 *   - git init, add -A and commit of the created files (when git is installed).
 * Prints seconds per mount and the agentless/agent ratio. Needs root, dockerd, FUSE and Go (the agent).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { goSkipReason, testAgentDist } from '../test/agent/agent-binary.ts';
import { dockerdSkipReason, startDockerd } from '../test/helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../test/helpers/mount.ts';
import { which } from '../test/helpers/skip.ts';
import type { AfterHook } from '../test/helpers/sshd.ts';

const run = promisify(execFile);
const FILES = Number(process.env.BENCH_FILES ?? 300);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function folder(hook: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-bench-'));
  hook.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function main(): Promise<void> {
  const reason = dockerdSkipReason() || fuseSkipReason() || goSkipReason();
  if (reason) throw new Error(`cannot run: ${reason}`);
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  try {
    process.env.RMOUNT_AGENT_DIST = await testAgentDist();
    const d = await startDockerd(hook);
    process.env.DOCKER_HOST = d.host;
    const back = await folder(hook);
    const local = await folder(hook);
    const name = await d.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
    const kinds = ['no', 'yes'] as const;
    const mnt: Record<string, string> = {};
    for (const agent of kinds) {
      await mkdir(join(back, agent));
      mnt[agent] = (await mountFor(hook, `docker://${name}/work/${agent}`, { o: [`agent=${agent}`] })).mountpoint;
    }
    const tree = join(local, 'tree');
    for (let i = 0; i < FILES; i++) {
      await mkdir(join(tree, `d${i % 10}`), { recursive: true });
      await writeFile(join(tree, `d${i % 10}`, `f${i}.txt`), `file ${i}\n`.repeat(i % 7 + 1));
    }
    await run('tar', ['-cf', join(local, 'tree.tar'), '-C', local, 'tree']);

    const rows: [string, number, number][] = [];
    const both = async (what: string, fn: (m: string, agent: string) => Promise<void>): Promise<void> => {
      const t: Record<string, number> = {};
      for (const agent of kinds) t[agent] = await timed(() => fn(mnt[agent]!, agent));
      rows.push([what, t.no!, t.yes!]);
      console.error(`${what}: agentless ${t.no!.toFixed(2)} s, agent ${t.yes!.toFixed(2)} s`);
    };
    await both(`create ${FILES} small files`, async m => {
      await mkdir(join(m, 'small'));
      for (let i = 0; i < FILES; i++) await writeFile(join(m, 'small', `f${i}.txt`), `small ${i}\n`);
    });
    for (const agent of kinds) {
      const files = await readdir(join(back, agent, 'small'));
      if (files.length !== FILES) throw new Error(`${agent}: ${files.length} files arrived`);
    }
    await both(`ls -l + cat ${FILES} files (new mount)`, async (_m, agent) => {
      const fresh = (await mountFor(hook, `docker://${name}/work/${agent}`, { o: [`agent=${agent}`] })).mountpoint;
      await run('ls', ['-l', join(fresh, 'small')], { maxBuffer: 16 << 20 });
      for (let i = 0; i < FILES; i++) {
        if ((await readFile(join(fresh, 'small', `f${i}.txt`), 'utf8')) !== `small ${i}\n`) throw new Error(`${agent}: f${i} differs`);
      }
    });
    await both(`tar -x of ${FILES} files`, async m => {
      await run('tar', ['-xf', join(local, 'tree.tar'), '-C', m]);
    });
    if (which('git')) {
      const env = {
        ...process.env, HOME: local, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@rmount.invalid', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@rmount.invalid',
      };
      await both(`git init + add + commit of ${FILES} files`, async m => {
        const cwd = join(m, 'small');
        await run('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], { cwd, env });
        await run('git', ['add', '-A'], { cwd, env });
        await run('git', ['commit', '-q', '-m', 'bench'], { cwd, env });
      });
    }
    console.log(`| workload | agentless (s) | agent (s) | agentless/agent |`);
    console.log(`|---|---:|---:|---:|`);
    for (const [what, a, b] of rows) console.log(`| ${what} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(1)}× |`);
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(e => console.error('cleanup:', e));
  }
}

await main();
