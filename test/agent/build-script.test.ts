import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/tmp.ts';
import { goSkipReason } from './agent-binary.ts';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-agent.sh');

test('build-agent.sh names builds <os>_<arch>[_<variant>], stamps the version, writes SHA256SUMS, reproducibly', { skip: goSkipReason(), timeout: 300_000 }, async t => {
  const out = await tempDir(t, 'rmount-agent-build-');
  const env = { ...process.env, OUT_DIR: out, TARGETS: 'linux/arm/v6 darwin/arm64 linux/amd64', VERSION: '9.9.9-test', COMMIT: 'abc123' };
  await run('bash', [SCRIPT], { env });
  const names = (await readdir(out)).sort();
  assert.deepEqual(names, ['SHA256SUMS', 'rmount-agent_darwin_arm64', 'rmount-agent_linux_amd64', 'rmount-agent_linux_arm_v6']);
  const sums = await readFile(join(out, 'SHA256SUMS'), 'utf8');
  for (const name of names.filter(n => n !== 'SHA256SUMS')) {
    const digest = createHash('sha256').update(await readFile(join(out, name))).digest('hex');
    assert.ok(sums.includes(`${digest}  ${name}`), `${name} listed with its digest`);
  }
  if (process.platform === 'linux' && process.arch === 'x64') {
    const { stdout } = await run(join(out, 'rmount-agent_linux_amd64'), ['version']);
    assert.equal(stdout.trim(), 'rmount-agent 9.9.9-test abc123 linux/amd64');
  }
  await run('bash', [SCRIPT], { env });
  assert.equal(await readFile(join(out, 'SHA256SUMS'), 'utf8'), sums, 'a second build is byte-identical');
});
