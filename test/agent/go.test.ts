import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { AGENT_SRC, goSkipReason } from './agent-binary.ts';

const run = promisify(execFile);

// The agent's own Go unit tests, so that `npm test` runs them too.
test('go test ./... in native/agent passes', { skip: goSkipReason(), timeout: 300_000 }, async () => {
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: process.env.GOCACHE ?? join(AGENT_SRC, '../../build/go-cache') };
  const { stdout } = await run('go', ['test', '-count=1', './...'], { cwd: AGENT_SRC, env }).catch((error: { stdout?: string; stderr?: string }) => {
    assert.fail(`go test failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  });
  assert.match(stdout, /^ok\s/m);
});

test('go vet and gofmt are clean in native/agent', { skip: goSkipReason(), timeout: 120_000 }, async () => {
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: process.env.GOCACHE ?? join(AGENT_SRC, '../../build/go-cache') };
  await run('go', ['vet', './...'], { cwd: AGENT_SRC, env });
  const { stdout } = await run('gofmt', ['-l', '.'], { cwd: AGENT_SRC });
  assert.equal(stdout.trim(), '', `files gofmt would change: ${stdout}`);
});
