import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { agentFiles } from '../../src/backends/agent-files.ts';
import { installAgent } from '../../src/agent/install.ts';
import { agentBuildName, DEFAULT_AGENT_DIST } from '../../src/agent/resolve.ts';
import { dockerdSkipReason } from '../helpers/dockerd.ts';
import { requirePart } from '../helpers/skip.ts';
import { tempDir } from '../helpers/tmp.ts';
import { backendFor, collect, suiteCleanup, suiteDockerd } from '../backends/docker/helpers.ts';

const run = promisify(execFile);

/** Debian's busybox-static .debs for the foreign architectures (scripts/setup.sh downloads them). */
const DEB_DIR = resolve(import.meta.dirname, '../../build/qemu');

const ARCHES = [
  { debArch: 'arm64', platform: 'linux/arm64', qemu: 'qemu-aarch64', want: { os: 'linux', arch: 'arm64', variant: '' } },
  { debArch: 'armhf', platform: 'linux/arm/v7', qemu: 'qemu-arm', want: { os: 'linux', arch: 'arm', variant: 'v7' } },
] as const;

function deb(debArch: string): string | undefined {
  if (!existsSync(DEB_DIR)) return undefined;
  const name = readdirSync(DEB_DIR).find(n => n.startsWith('busybox-static_') && n.endsWith(`_${debArch}.deb`));
  return name === undefined ? undefined : join(DEB_DIR, name);
}

function skipReason(): string | false {
  const docker = dockerdSkipReason();
  if (docker !== false) return docker;
  for (const a of ARCHES) {
    const entry = `/proc/sys/fs/binfmt_misc/${a.qemu}`;
    if (!existsSync(entry) || !readFileSync(entry, 'utf8').startsWith('enabled')) {
      return requirePart(`binfmt_misc entry ${a.qemu} missing (qemu: Debian packages qemu-user-static binfmt-support; mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)`);
    }
    if (deb(a.debArch) === undefined) return requirePart(`no busybox-static ${a.debArch} .deb in ${DEB_DIR} (qemu: apt-get download busybox-static:${a.debArch} after dpkg --add-architecture ${a.debArch})`);
    if (!existsSync(join(DEFAULT_AGENT_DIST, agentBuildName(a.want)))) return requirePart(`agent build ${agentBuildName(a.want)} missing (qemu: npm run build:agent)`);
  }
  return false;
}

// Real foreign-architecture containers: the engine runs their busybox under qemu-user, the backend
// reads the image's platform, and the right agent build is uploaded and serves files.
describe('agent in arm64 and armv7 containers under qemu-user', { skip: skipReason(), timeout: 600_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();
  const images = new Map<string, string>();
  before(async () => {
    for (const a of ARCHES) {
      const dir = await tempDir(hook, `rmount-${a.debArch}-`);
      await run('dpkg-deb', ['-x', deb(a.debArch)!, join(dir, 'deb')]);
      const rootfs = join(dir, 'rootfs');
      for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(rootfs, d), { recursive: true });
      await chmod(join(rootfs, 'tmp'), 0o1777);
      await run('cp', [join(dir, 'deb/bin/busybox'), join(rootfs, 'bin/busybox')]);
      const { stdout } = await run(join(rootfs, 'bin/busybox'), ['--list']);
      for (const applet of stdout.split('\n').filter(s => s !== '' && s !== 'busybox')) await symlink('busybox', join(rootfs, 'bin', applet)).catch(() => undefined);
      await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      const tag = `rmount-test/busybox-${a.debArch}:latest`;
      await new Promise<void>((resolveP, reject) => {
        const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
        const imp = spawn('docker', ['import', '--platform', a.platform, '-', tag], { env: { ...process.env, ...dockerd().env }, stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        imp.stderr.on('data', (b: Buffer) => { err += b.toString(); });
        tar.stdout.pipe(imp.stdin);
        imp.on('close', code => (code === 0 ? resolveP() : reject(new Error(`docker import: ${err}`))));
      });
      images.set(a.debArch, tag);
    }
  }, { timeout: 300_000 });

  for (const a of ARCHES) {
    it(`${a.platform}: detects the platform, uploads ${agentBuildName(a.want)}, and serves files through it`, async t => {
      const name = await dockerd().run({ image: images.get(a.debArch)! });
      const backend = await backendFor(t, dockerd(), `docker://${name}`);
      assert.deepEqual(await backend.detectPlatform(), a.want);
      const r = await installAgent(backend);
      assert.equal(r.build.path, join(DEFAULT_AGENT_DIST, agentBuildName(a.want)));
      const v = await collect(await backend.exec([r.remotePath, 'version']));
      assert.match(v.stdout.toString(), new RegExp(`^rmount-agent \\S+ \\S+ ${a.want.os}/${a.want.arch}\\n$`));
      const files = await agentFiles(backend);
      t.after(() => files.close());
      await files.mkdir('/tmp/x');
      const h = await files.open('/tmp/x/hello', { read: false, write: true, create: true });
      await h.write(Buffer.from('from qemu'), 0, 9, 0);
      await h.close();
      const cat = await collect(await backend.exec(['cat', '/tmp/x/hello']));
      assert.equal(cat.stdout.toString(), 'from qemu');
      assert.equal((await files.stat('/tmp/x/hello')).nlink, 1);
    });
  }
});
