import { after, before } from 'node:test';
import { DockerBackend } from '../../../src/backends/docker/backend.ts';
import { parseDestination } from '../../../src/remote/destination.ts';
import { startDockerd, type DockerdFixture } from '../../helpers/dockerd.ts';
import type { AfterHook } from '../../helpers/sshd.ts';

/** A suite-level cleanup hook whose callbacks run last-in-first-out in the suite's `after`. */
export function suiteCleanup(): AfterHook {
  const fns: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return { after: fn => { fns.push(fn); } };
}

/** Starts one private dockerd for the suite (in `before`); the getter returns it. */
export function suiteDockerd(): () => DockerdFixture {
  const hook = suiteCleanup();
  let fixture: DockerdFixture | undefined;
  before(async () => { fixture = await startDockerd(hook); }, { timeout: 180_000 });
  return () => {
    if (!fixture) throw new Error('dockerd fixture not started');
    return fixture;
  };
}

/** A started DockerBackend for `dest` on the fixture's engine (agentless unless `extra.agent`), closed through `hook`. */
export async function backendFor(hook: AfterHook, d: DockerdFixture, dest: string, extra: { cwd?: string; env?: Record<string, string>; agent?: 'yes' | 'no' | 'auto' } = {}): Promise<DockerBackend> {
  const backend = new DockerBackend(parseDestination(dest), {
    endpoint: { kind: 'unix', socketPath: d.socketPath, source: 'test' },
    env: { ...extra.env },
    // These tests are about the agentless copy/exec client unless they ask for the agent.
    agent: extra.agent ?? 'no',
    ...(extra.cwd !== undefined ? { cwd: extra.cwd } : {}),
  });
  hook.after(() => backend.close());
  await backend.start();
  return backend;
}

/** Collects a session's output and exit status. */
export async function collect(session: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream; wait(): Promise<{ code: number | null; signal: string | null }> }): Promise<{ code: number | null; signal: string | null; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  session.stdout.on('data', (b: Buffer) => out.push(b));
  session.stderr.on('data', (b: Buffer) => err.push(b));
  const st = await session.wait();
  return { ...st, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
}
