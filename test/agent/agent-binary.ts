import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { SftpFileClient } from '../../src/sftp/sftp-file-client.ts';
import { requirePart, which } from '../helpers/skip.ts';

const run = promisify(execFile);

/** The agent's Go sources. */
export const AGENT_SRC = resolve(import.meta.dirname, '../../native/agent');
const OUT_DIR = resolve(import.meta.dirname, '../../build/agent-test');

/** Why agent tests cannot run here (no Go toolchain), or false. */
export function goSkipReason(): string | false {
  return requirePart(which('go') === undefined ? 'go not installed (Debian package golang-go): the agent cannot be built' : false);
}

let built: Promise<string> | undefined;

/** Builds rmount-agent for this machine once per process (Go's cache makes rebuilds cheap); resolves with its path. */
export function buildAgent(): Promise<string> {
  built ??= (async () => {
    await mkdir(OUT_DIR, { recursive: true });
    const out = join(OUT_DIR, 'rmount-agent');
    const tmp = `${out}.${process.pid}`;
    await run('go', ['build', '-trimpath', '-ldflags', '-X main.version=test', '-o', tmp, '.'], {
      cwd: AGENT_SRC,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: process.env.GOCACHE ?? join(OUT_DIR, '..', 'go-cache') },
    });
    await rename(tmp, out);
    return out;
  })();
  return built;
}

/** A running `rmount-agent sftp` and the duplex stream over its stdio. */
export interface AgentProcess {
  child: ChildProcessWithoutNullStreams;
  stream: Duplex;
  stderr(): string;
}

/** Spawns `rmount-agent sftp [args]`; killed after the test. */
export async function spawnAgent(t: Pick<TestContext, 'after'>, args: string[] = []): Promise<AgentProcess> {
  const bin = await buildAgent();
  const child = spawn(bin, ['sftp', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = once(child, 'exit').catch(() => undefined);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, stream: Duplex.from({ readable: child.stdout, writable: child.stdin }), stderr: () => err };
}

/** An SftpFileClient over a fresh agent on stdio, closed after the test. */
export async function startAgentClient(t: Pick<TestContext, 'after'>, args: string[] = []): Promise<SftpFileClient & { agent: AgentProcess }> {
  let client: SftpFileClient | undefined;
  t.after(() => client?.close());
  const agent = await spawnAgent(t, args);
  client = await SftpFileClient.over(agent.stream, { name: 'rmount-agent (stdio)' });
  return Object.assign(client, { agent });
}

/** GOARCH of this machine. */
export function hostGoarch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' } as Record<string, string>)[process.arch] ?? process.arch;
}

let dist: Promise<string> | undefined;

/** A dist folder holding the test build under this machine's name (rmount-agent_linux_amd64). */
export function testAgentDist(): Promise<string> {
  dist ??= (async () => {
    const bin = await buildAgent();
    const dir = join(OUT_DIR, 'dist');
    await mkdir(dir, { recursive: true });
    const name = `rmount-agent_${process.platform}_${hostGoarch()}${hostGoarch() === 'arm' ? '_v7' : ''}`;
    await copyFile(bin, join(dir, `${name}.tmp`));
    await rename(join(dir, `${name}.tmp`), join(dir, name));
    return dir;
  })();
  return dist;
}
