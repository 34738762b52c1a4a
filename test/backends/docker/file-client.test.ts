import assert from 'node:assert/strict';
import { describe, it, before, type TestContext } from 'node:test';
import type { DockerBackend } from '../../../src/backends/docker/backend.ts';
import type { FileClient } from '../../../src/remote/file-client.ts';
import { dockerdSkipReason } from '../../helpers/dockerd.ts';
import { fileClientContract, type ContractSubject } from '../../remote/file-client-contract.ts';
import { errnoContract } from '../local/errno-contract.ts';
import { backendFor, suiteCleanup, suiteDockerd } from './helpers.ts';

const skip = dockerdSkipReason();

describe('Docker agentless FileClient', { skip, timeout: 900_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();
  let backend: DockerBackend;
  let client: FileClient;
  let n = 0;
  before(async () => {
    const name = await dockerd().run();
    backend = await backendFor(hook, dockerd(), `docker://${name}`);
    client = await backend.files();
  }, { timeout: 120_000 });

  // A backend per test: the contract closes clients.
  const subject = async (t: TestContext): Promise<ContractSubject> => {
    const root = `/tmp/contract-${++n}`;
    await client.mkdir(root, 0o755);
    const b = await backendFor(t, dockerd(), `docker://${backend.container.name}`);
    return { client: await b.files(), root };
  };
  fileClientContract('docker copy/exec (busybox)', subject);
  errnoContract('docker copy/exec (busybox)', subject);

  it('lists a name holding a newline, a pipe and a space exactly', async () => {
    const root = `/tmp/names-${++n}`;
    await client.mkdir(root);
    const odd = 'a|b\nc d';
    const h = await client.open(`${root}/${odd}`, { read: false, write: true, create: true });
    await h.close();
    await client.mkdir(`${root}/sub`);
    const names = (await client.readdir(root)).map(e => e.name).sort();
    assert.deepEqual(names, [odd, 'sub'].sort());
  });

  it('a path with shell metacharacters is never interpreted', async () => {
    const root = `/tmp/meta-${++n}`;
    await client.mkdir(root);
    const evil = `${root}/$(touch pwned);\`touch pwned\`'"`;
    await client.mkdir(evil);
    for (const p of [`${root}/pwned`, '/pwned', '/tmp/pwned']) await assert.rejects(client.lstat(p), { code: 'ENOENT' });
    assert.equal((await client.readdir(root)).length, 1);
  });
});
