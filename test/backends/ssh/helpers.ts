import { writeFile } from 'node:fs/promises';
import { after } from 'node:test';
import { join } from 'node:path';
import { SshBackend, type SshBackendOptions } from '../../../src/backends/ssh/backend.ts';
import type { Destination } from '../../../src/remote/destination.ts';
import type { ExecOptions } from '../../../src/remote/session.ts';
import { collectOutput, type SessionOutput } from '../../../src/remote/session-output.ts';
import type { AfterHook, SshdFixture } from '../../helpers/sshd.ts';

/**
 * A not-yet-started backend for the fixture: an isolated home, no agent, the fixture's user key
 * and known_hosts, unless `options` says otherwise. Closed after the test.
 */
export async function makeBackend(t: AfterHook, sshd: SshdFixture, options: SshBackendOptions = {}, dest: Partial<Destination> = {}): Promise<SshBackend> {
  const configFile = join(sshd.dir, 'isolated_ssh_config');
  // The agent is off so a developer's running agent cannot make a test pass or fail.
  await writeFile(configFile, 'Host *\n  IdentityAgent none\n');
  const backend = new SshBackend(
    { type: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, raw: `ssh://${sshd.user}@${sshd.host}:${sshd.port}`, ...dest },
    { configFile, homeDir: join(sshd.dir, 'home'), knownHostsFile: sshd.knownHostsFile, identityFile: sshd.userKey, connectTimeoutMs: 10_000, ...options },
  );
  t.after(() => backend.close());
  return backend;
}

/** A started backend for the fixture. */
export async function connectBackend(t: AfterHook, sshd: SshdFixture, options: SshBackendOptions = {}): Promise<SshBackend> {
  const backend = await makeBackend(t, sshd, options);
  await backend.start();
  return backend;
}

/** What a finished command produced. */
export type RunResult = SessionOutput;

/** Runs argv to completion, feeding `stdin` (then EOF) and collecting both outputs. */
export async function run(backend: SshBackend, argv: string[], options: ExecOptions = {}, stdin?: Buffer | string): Promise<RunResult> {
  return collectOutput(await backend.exec(argv, options), typeof stdin === 'string' ? Buffer.from(stdin) : stdin);
}

/**
 * An `after` hook for fixtures made in a suite's `before`: node:test's `after()` called inside
 * a hook does not wait for the suite's end, so cleanups are collected here and run (newest
 * first) by one `after` registered now. Call it in the describe body.
 */
export function suiteCleanup(): AfterHook {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return { after: fn => { cleanups.push(fn); } };
}
