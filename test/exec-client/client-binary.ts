/**
 * build/rmount-exec for the tests: built by scripts/build-exec-client.sh when it is missing or
 * older than its sources, once per test process, so a fresh CI checkout works.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { requirePart, which } from '../helpers/skip.ts';

const run = promisify(execFile);

export const ROOT = resolve(import.meta.dirname, '../..');
/** The Go sources. */
export const CLIENT_SRC = join(ROOT, 'native/exec-client');
/** What scripts/build-exec-client.sh writes and the shims run. */
export const CLIENT_BIN = join(ROOT, 'build/rmount-exec');

/** Why the client cannot be built here (no Go toolchain), or false. Throws under RMOUNT_TEST_REQUIRE=all. */
export function goSkipReason(): string | false {
  return requirePart(which('go') === undefined ? 'go not installed (Debian package golang-go): rmount-exec cannot be built or tested' : false);
}

/** The environment for go commands: no network, no module downloads, a cache inside build/. */
export function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local', GOWORK: 'off', GOCACHE: process.env.GOCACHE ?? join(ROOT, 'build/go-cache') };
}

function stale(): boolean {
  if (!existsSync(CLIENT_BIN)) return true;
  const built = statSync(CLIENT_BIN).mtimeMs;
  return readdirSync(CLIENT_SRC).some(name => statSync(join(CLIENT_SRC, name)).mtimeMs > built);
}

let building: Promise<string> | undefined;

/** Builds build/rmount-exec when missing or stale; resolves with its path. */
export function ensureClient(): Promise<string> {
  building ??= (async () => {
    if (stale()) {
      await run('bash', [join(ROOT, 'scripts/build-exec-client.sh')], { cwd: ROOT, env: goEnv(), timeout: 300_000 }).catch((error: { stderr?: string; message: string }) => {
        throw new Error(`scripts/build-exec-client.sh failed: ${error.stderr ?? error.message}`);
      });
    }
    return CLIENT_BIN;
  })();
  return building;
}
