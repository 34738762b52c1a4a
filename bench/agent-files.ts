/**
 * The agent against the sftp subsystem, through the same FileClient, on the test sshd behind a
 * latency proxy (RTT 20 ms by default):
 *
 *   node --import tsx bench/agent-files.ts                 # RTT 20 ms, 2,000 files
 *   BENCH_RTT_MS=0 BENCH_FILES=5000 node --import tsx bench/agent-files.ts
 *
 * Workloads on a tree of BENCH_FILES small files in 40 folders:
 *   - scan: readdir of every folder (what `git status` / `find` need), per folder as the VFS does;
 *   - tree: the whole subtree in one tree@rmount request (agent only);
 *   - read: every file's content (open/read/close per file), and readfiles@rmount (agent only);
 *   - freshness: time from a change on the remote to the watch event (agent only).
 * Needs the agent build for this machine (npm run build:agent, or it builds one).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SshBackend } from '../src/backends/ssh/backend.ts';
import type { FileClient } from '../src/remote/file-client.ts';
import type { SftpFileClient } from '../src/sftp/sftp-file-client.ts';
import { startAgentFiles } from '../src/backends/agent-files.ts';
import { installAgent } from '../src/agent/install.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../test/helpers/sshd.ts';
import { testAgentDist } from '../test/agent/agent-binary.ts';
import { startLatencyProxy } from './latency-proxy.ts';

const RTT = Number(process.env.BENCH_RTT_MS ?? 20);
const FILES = Number(process.env.BENCH_FILES ?? 2000);
const DIRS = 40;

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}

async function scan(client: FileClient, root: string): Promise<number> {
  const dirs = await client.readdir(root);
  const lists = await Promise.all(dirs.map(d => client.readdir(`${root}/${d.name}`)));
  return lists.reduce((n, l) => n + l.length, 0);
}

async function readAll(client: FileClient, paths: string[]): Promise<number> {
  const sizes = await Promise.all(paths.map(async p => {
    const h = await client.open(p, { read: true, write: false });
    const buf = Buffer.alloc(4096);
    const n = await h.read(buf, 0, buf.length, 0);
    await h.close();
    return n;
  }));
  return sizes.reduce((a, b) => a + b, 0);
}

async function main(): Promise<void> {
  const skip = sshdSkipReason();
  if (skip !== false) {
    console.log(`agent-files: skipped: ${skip}`);
    return;
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  try {
    const sshd = await startSshd(hook);
    const proxy = await startLatencyProxy({ targetPort: sshd.port, delayMs: RTT / 2 });
    hook.after(() => proxy.close());
    const root = join(sshd.dir, 'tree');
    const paths: string[] = [];
    for (let d = 0; d < DIRS; d++) {
      await mkdir(join(root, `d${d}`), { recursive: true });
      for (let f = d; f < FILES; f += DIRS) {
        const p = join(root, `d${d}`, `f${f}.txt`);
        await writeFile(p, `file ${f}\n`.repeat(20));
        paths.push(p);
      }
    }
    const dist = await testAgentDist();
    const backend = async (): Promise<SshBackend> => {
      const b = new SshBackend({ type: 'ssh', host: '127.0.0.1', port: proxy.port, user: sshd.user, raw: 'bench' }, {
        configFile: join(sshd.dir, 'none'), knownHostsFile: join(sshd.dir, 'bench_known_hosts'), acceptNew: true, identityFile: sshd.userKey, homeDir: join(sshd.dir, 'home'), agent: 'no',
      });
      hook.after(() => b.close());
      await b.start();
      return b;
    };
    console.log(`agent-files: ${FILES} files in ${DIRS} folders, RTT ${RTT} ms (latency proxy), test sshd on 127.0.0.1`);
    const rows: Record<string, string>[] = [];
    const ms = (n: number): string => (Number.isNaN(n) ? '-' : `${n.toFixed(0)} ms`);
    for (const kind of ['sftp subsystem', 'agent'] as const) {
      const b = await backend();
      let client: FileClient;
      let agent: SftpFileClient | undefined;
      if (kind === 'agent') {
        const [installMs, r] = await time(() => installAgent(b, { from: dist, candidates: [join(sshd.dir, 'agent')] }));
        console.log(`agent install: ${ms(installMs)} (${r.uploaded ? 'uploaded' : 'already there'})`);
        agent = await startAgentFiles(b, r.remotePath);
        client = agent;
      } else client = await b.files();
      const [scanMs, n] = await time(() => scan(client, root));
      const [readMs] = await time(() => readAll(client, paths));
      let treeMs = NaN;
      let batchMs = NaN;
      let freshMs = NaN;
      if (agent !== undefined) {
        [treeMs] = await time(() => agent.tree(root));
        [batchMs] = await time(() => agent.readFiles(paths, 64 * 1024));
        const samples: number[] = [];
        for (let i = 0; i < 5; i++) {
          let changed = 0;
          const seen = new Promise<number>(resolve => {
            void agent.watch(root, events => {
              if (changed > 0 && events.some(e => e.path.endsWith('/fresh.txt'))) resolve(performance.now() - changed);
            }).then(sub => hook.after(() => sub.close()));
          });
          await new Promise(r => setTimeout(r, 100));
          changed = performance.now();
          await writeFile(join(root, 'd0', 'fresh.txt'), `${i}`);
          samples.push(await seen);
        }
        freshMs = samples.sort((a, b2) => a - b2)[2]!;
      }
      rows.push({ client: kind, entries: `${n}`, 'scan (readdir ×41)': ms(scanMs), [`read ${FILES} files`]: ms(readMs), 'tree@rmount': ms(treeMs), 'readfiles@rmount': ms(batchMs), 'watch freshness (median)': ms(freshMs) });
    }
    console.table(rows);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
