import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { mergePlatform } from '../../../src/backends/docker/backend.ts';
import { composeProjectOf, similarNames } from '../../../src/backends/docker/container-resolve.ts';
import { APP_USER, BUSYBOX_IMAGE, dockerdSkipReason } from '../../helpers/dockerd.ts';
import { backendFor, suiteCleanup, suiteDockerd } from './helpers.ts';

describe('compose project and platform rules', () => {
  it('project "." is COMPOSE_PROJECT_NAME when set', () => {
    assert.equal(composeProjectOf('.', '/src/My App', { COMPOSE_PROJECT_NAME: 'given' }), 'given');
  });
  it('project "." is the folder name normalised as Compose does', () => {
    assert.equal(composeProjectOf('.', '/src/My.App_1', {}), 'myapp_1');
  });
  it('a named project is taken as it is', () => {
    assert.equal(composeProjectOf('shop', '/x', { COMPOSE_PROJECT_NAME: 'other' }), 'shop');
  });
  it('similar names rank close edits first', () => {
    assert.equal(similarNames('wbe', ['worker', 'db', 'web'])[0], 'web');
  });
  it('platform comes from the image when uname agrees', () => {
    assert.deepEqual(mergePlatform({ Os: 'linux', Architecture: 'arm', Variant: 'v7' }, { sysname: 'Linux', machine: 'armv7l' }), { os: 'linux', arch: 'arm', variant: 'v7' });
  });
  it('uname -m wins when the image disagrees (emulated image)', () => {
    assert.deepEqual(mergePlatform({ Os: 'linux', Architecture: 'amd64' }, { sysname: 'Linux', machine: 'aarch64' }), { os: 'linux', arch: 'arm64', variant: '' });
  });
  it('uname fills what the image lacks', () => {
    assert.deepEqual(mergePlatform({}, { sysname: 'Linux', machine: 'x86_64' }), { os: 'linux', arch: 'amd64', variant: '' });
  });
  it('the image alone answers when uname cannot run', () => {
    assert.deepEqual(mergePlatform({ Os: 'linux', Architecture: 'arm64', Variant: 'v8' }, undefined), { os: 'linux', arch: 'arm64', variant: '' });
  });
});

describe('container and Compose resolution against a real dockerd', { skip: dockerdSkipReason(), timeout: 300_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();
  let web = '';
  let docker: Dockerode;
  const created: string[] = [];

  async function composeContainer(project: string, service: string, number: number, opts: { oneoff?: boolean; start?: boolean } = {}): Promise<string> {
    const name = `${project}-${service}-${opts.oneoff ? 'run-x' : number}`;
    const c = await docker.createContainer({
      name, Image: BUSYBOX_IMAGE, Cmd: ['sleep', '1000000'],
      Labels: {
        'com.docker.compose.project': project, 'com.docker.compose.service': service,
        'com.docker.compose.container-number': String(number), 'com.docker.compose.oneoff': opts.oneoff ? 'True' : 'False',
      },
      HostConfig: { NetworkMode: 'none', Init: true },
    });
    created.push(c.id);
    if (opts.start !== false) await c.start();
    return name;
  }

  before(async () => {
    docker = new Dockerode({ socketPath: dockerd().socketPath });
    hook.after(async () => { for (const id of created) await docker.getContainer(id).remove({ force: true }).catch(() => {}); });
    web = await dockerd().run({ name: 'rmount-web', args: ['-w', '/tmp'] });
    const stopped = await dockerd().run({ name: 'rmount-stopped' });
    await docker.getContainer(stopped).stop({ t: 0 });
    await composeContainer('shop', 'api', 1);
    await composeContainer('shop', 'api', 2);
    await composeContainer('shop', 'api', 3, { oneoff: true });
    await composeContainer('shop', 'db', 1);
    await composeContainer('shop', 'db', 2, { start: false });
    await composeContainer('my_proj', 'web', 1);
  }, { timeout: 120_000 });

  it('a container resolves by name', async () => {
    const b = await backendFor(hook, dockerd(), 'docker://rmount-web');
    assert.equal(b.container.name, 'rmount-web');
    assert.equal(b.addr, 'docker://rmount-web');
  });

  it('a container resolves by an ID prefix', async () => {
    const id = (await docker.getContainer(web).inspect()).Id;
    const b = await backendFor(hook, dockerd(), `docker://${id.slice(0, 10)}`);
    assert.equal(b.container.id, id);
  });

  it('a missing container fails ERR_NOT_FOUND naming similar ones', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'docker://rmount-wbe'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_NOT_FOUND');
      assert.match(e.message, /rmount-web/);
      return true;
    });
  });

  it('a stopped container fails ERR_STATE with its state', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'docker://rmount-stopped'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_STATE');
      assert.match(e.message, /exited/);
      return true;
    });
  });

  it('a paused container fails ERR_STATE', async () => {
    const name = await dockerd().run();
    await docker.getContainer(name).pause();
    hook.after(() => docker.getContainer(name).unpause().catch(() => {}));
    await assert.rejects(backendFor(hook, dockerd(), `docker://${name}`), { code: 'ERR_STATE' });
  });

  it('a Compose service with one running replica resolves without a number', async () => {
    const b = await backendFor(hook, dockerd(), 'compose://shop/db');
    assert.equal(b.container.name, 'shop-db-1');
  });

  it('a Compose replica resolves by its number', async () => {
    const b = await backendFor(hook, dockerd(), 'compose://shop/api/2');
    assert.equal(b.container.name, 'shop-api-2');
  });

  it('several replicas without a number fail ERR_STATE listing each number (one-offs ignored)', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'compose://shop/api'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_STATE');
      assert.match(e.message, /compose:\/\/shop\/api\/1/);
      assert.match(e.message, /compose:\/\/shop\/api\/2/);
      assert.doesNotMatch(e.message, /api\/3/);
      return true;
    });
  });

  it('a one-off container is never chosen as a replica', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'compose://shop/api/3'), { code: 'ERR_NOT_FOUND' });
  });

  it('a stopped replica fails ERR_STATE with its state', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'compose://shop/db/2'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_STATE');
      assert.match(e.message, /created|exited/);
      return true;
    });
  });

  it('a missing service fails ERR_NOT_FOUND listing the services', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'compose://shop/apx'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_NOT_FOUND');
      assert.match(e.message, /api, db/);
      return true;
    });
  });

  it('a missing project fails ERR_NOT_FOUND listing the projects', async () => {
    await assert.rejects(backendFor(hook, dockerd(), 'compose://nope/api'), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_NOT_FOUND');
      assert.match(e.message, /my_proj, shop/);
      return true;
    });
  });

  it('project "." resolves from the folder name', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'rmount-c-')), 'My_Proj');
    const b = await backendFor(hook, dockerd(), 'compose://./web', { cwd: dir });
    assert.equal(b.container.name, 'my_proj-web-1');
  });

  it('project "." takes COMPOSE_PROJECT_NAME first', async () => {
    const b = await backendFor(hook, dockerd(), 'compose://./api/1', { cwd: '/nowhere', env: { COMPOSE_PROJECT_NAME: 'shop' } });
    assert.equal(b.container.name, 'shop-api-1');
  });

  it('detectPlatform reports linux and this machine\'s arch', async () => {
    const b = await backendFor(hook, dockerd(), 'docker://rmount-web');
    const p = await b.detectPlatform();
    assert.equal(p.os, 'linux');
    assert.equal(p.arch, process.arch === 'x64' ? 'amd64' : process.arch);
  });

  it('resolvePath: none is the WorkingDir, ~ is the home of the user', async () => {
    const b = await backendFor(hook, dockerd(), 'docker://rmount-web');
    assert.equal(await b.resolvePath(), '/tmp');
    assert.equal(await b.resolvePath('~/x'), '/root/x');
    assert.equal(await b.resolvePath('/a//b/'), '/a/b');
  });

  it('uploadFile creates the parent folders and keeps mode and owner of the container user', async () => {
    const name = await dockerd().run({ args: ['-u', `${APP_USER.uid}:${APP_USER.gid}`] });
    const b = await backendFor(hook, dockerd(), `docker://${name}`);
    const path = await b.uploadFile(Buffer.from('#!/bin/sh\necho agent\n'), '~/.cache/rmount/agent-x', 0o755);
    assert.equal(path, `${APP_USER.home}/.cache/rmount/agent-x`);
    const r = await b.run(['sh', '-c', 'stat -c "%a %u %g" "$1" "$(dirname "$1")"; "$1"', 'sh', path]);
    assert.equal(r.stdout.toString(), `755 ${APP_USER.uid} ${APP_USER.gid}\n755 ${APP_USER.uid} ${APP_USER.gid}\nagent\n`);
  });

  it('uploadFile leaves an existing parent folder as it was', async () => {
    const b = await backendFor(hook, dockerd(), 'docker://rmount-web');
    await b.uploadFile(Buffer.from('x'), '/tmp/up/f', 0o600);
    const r = await b.run(['stat', '-c', '%a %n', '/tmp', '/tmp/up/f']);
    assert.equal(r.stdout.toString(), '1777 /tmp\n600 /tmp/up/f\n');
  });

  it('uploadFile into a tmpfs mount, which the archive API cannot reach, lands where the container sees it', async () => {
    const name = await dockerd().run({ args: ['--tmpfs', '/scratch:rw,exec,mode=1777', '-u', `${APP_USER.uid}:${APP_USER.gid}`] });
    const b = await backendFor(hook, dockerd(), `docker://${name}`);
    const path = await b.uploadFile(Buffer.from('#!/bin/sh\necho agent\n'), '/scratch/.rmount/agent-x', 0o755);
    const r = await b.run(['sh', '-c', 'stat -c "%a %u %g" "$1" "$(dirname "$1")"; "$1"', 'sh', path]);
    assert.equal(r.stdout.toString(), `755 ${APP_USER.uid} ${APP_USER.gid}\n755 ${APP_USER.uid} ${APP_USER.gid}\nagent\n`);
  });

  it('a container without a shell still reads through archives and refuses changes with ENOTSUP', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rmount-noshell-'));
    const { mkdir, writeFile, copyFile, chmod } = await import('node:fs/promises');
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'data'));
    await writeFile(join(root, 'data/hello.txt'), 'hello');
    // busybox named `sleep` runs only its sleep applet: the image has no shell.
    await copyFile('/bin/busybox', join(root, 'bin/sleep'));
    await chmod(join(root, 'bin/sleep'), 0o755);
    await dockerd().importDir(root, 'rmount-test/noshell:latest');
    const name = await dockerd().run({ image: 'rmount-test/noshell:latest', cmd: ['/bin/sleep', '1000000'] });
    const b = await backendFor(hook, dockerd(), `docker://${name}`);
    const fc = await b.files();
    assert.equal(fc.capabilities.hardlink, false);
    assert.deepEqual((await fc.readdir('/data')).map(e => e.name), ['hello.txt']);
    assert.equal((await fc.stat('/data/hello.txt')).size, 5);
    const h = await fc.open('/data/hello.txt', { read: true, write: false });
    const buf = Buffer.alloc(5);
    assert.equal(await h.read(buf, 0, 5, 0), 5);
    assert.equal(buf.toString(), 'hello');
    await h.close();
    await assert.rejects(fc.mkdir('/data/x'), (e: Error & { code: string; cause?: Error }) => {
      assert.equal(e.code, 'ENOTSUP');
      assert.match(String(e.cause?.message), /agent/);
      return true;
    });
  });
});
