import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { fileClientContract } from '../../remote/file-client-contract.ts';
import { sshdSkipReason, startSshd, type SshdFixture } from '../../helpers/sshd.ts';
import { connectBackend, makeBackend, suiteCleanup } from './helpers.ts';

const skip = sshdSkipReason();

describe('SshBackend files over the sftp subsystem', { skip }, () => {
  let sshd: SshdFixture;
  let backend: SshBackend;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup);
    backend = await connectBackend(cleanup, sshd);
  });

  it('files() opens one client and shares it', async () => {
    const [a, b] = await Promise.all([backend.files(), backend.files()]);
    assert.equal(a, b);
    assert.equal(await backend.files(), a);
    assert.equal((await a.lstat(sshd.dir)).mode & 0o170000, 0o040000);
  });

  it('files() without an sftp subsystem rejects with ERR_UNSUPPORTED', async t => {
    const bare = await startSshd(t, { sftp: false });
    const other = await makeBackend(t, bare);
    await other.start();
    await assert.rejects(other.files(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_UNSUPPORTED');
      assert.ok(e.suggestion?.includes('Subsystem sftp'));
      return true;
    });
  });
});

// The same contract the SFTP codec passes against a spawned sftp-server, here through sshd.
let contractSshd: SshdFixture | undefined;
let contractBackend: SshBackend | undefined;
const contractCleanup = skip === false ? suiteCleanup() : { after() {} };
fileClientContract('sftp subsystem over a real sshd (SshBackend.files)', async () => {
  contractSshd ??= await startSshd(contractCleanup);
  contractBackend ??= await connectBackend(contractCleanup, contractSshd);
  const client = await contractBackend.files();
  // sshd runs on this machine, so a local temp folder is the remote's fresh folder too.
  const root = await mkdtemp(join(contractSshd.dir, 'contract-'));
  assert.ok(existsSync(root));
  return { client, root };
}, { skip });
