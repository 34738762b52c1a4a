import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { agentBuildName, listDistBuilds, pickBuild, resolveBinary, type AgentBuild } from '../../src/agent/resolve.ts';
import { platformFromUname, type PlatformInfo } from '../../src/remote/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

/** What scripts/build-agent.sh produces. */
const MATRIX = ['linux_amd64', 'linux_arm64', 'linux_arm_v6', 'linux_arm_v7', 'linux_386', 'linux_riscv64', 'linux_ppc64le', 'linux_s390x', 'linux_loong64', 'darwin_amd64', 'darwin_arm64', 'freebsd_amd64'];

async function fakeDist(t: Parameters<typeof tempDir>[0], names = MATRIX): Promise<string> {
  const dir = await tempDir(t, 'rmount-dist-');
  for (const n of names) await writeFile(join(dir, `rmount-agent_${n}`), n);
  return dir;
}

const P = (os: string, arch: string, variant = ''): PlatformInfo => ({ os, arch, variant });

describe('agent build resolution', () => {
  // uname -s, uname -m → the build uploaded
  const table: Array<[string, string, string]> = [
    ['Linux', 'x86_64', 'linux_amd64'],
    ['Linux', 'aarch64', 'linux_arm64'],
    ['Linux', 'armv7l', 'linux_arm_v7'],
    ['Linux', 'armv8l', 'linux_arm_v7'],
    ['Linux', 'armv6l', 'linux_arm_v6'],
    ['Linux', 'i686', 'linux_386'],
    ['Linux', 'riscv64', 'linux_riscv64'],
    ['Linux', 'ppc64le', 'linux_ppc64le'],
    ['Linux', 's390x', 'linux_s390x'],
    ['Linux', 'loongarch64', 'linux_loong64'],
    ['Darwin', 'x86_64', 'darwin_amd64'],
    ['Darwin', 'arm64', 'darwin_arm64'],
    ['FreeBSD', 'amd64', 'freebsd_amd64'],
  ];
  for (const [sys, machine, want] of table) {
    it(`${sys} ${machine} gets rmount-agent_${want}`, async t => {
      const dir = await fakeDist(t);
      const got = resolveBinary(platformFromUname(sys, machine), dir);
      assert.equal(got.path, join(dir, `rmount-agent_${want}`));
    });
  }

  it('every build of the matrix is found by its own name', async t => {
    const dir = await fakeDist(t);
    const builds = listDistBuilds(dir);
    assert.equal(builds.length, MATRIX.length);
    for (const b of builds) assert.equal(agentBuildName(b), `rmount-agent_${MATRIX.find(m => b.path.endsWith(m))}`);
  });

  it('arm v7 falls back to v6 when there is no v7 build', async t => {
    const dir = await fakeDist(t, ['linux_arm_v6']);
    assert.equal(resolveBinary(P('linux', 'arm', 'v7'), dir).variant, 'v6');
  });

  it('arm v6 never gets a v7 build', async t => {
    const dir = await fakeDist(t, ['linux_arm_v7', 'linux_amd64']);
    assert.throws(() => resolveBinary(P('linux', 'arm', 'v6'), dir), (e: Error) => /no build for linux\/arm\/v6.*builds exist for linux\/amd64, linux\/arm\/v7/.test(e.message));
  });

  it('arm with an unknown variant gets the most compatible build', () => {
    const builds: AgentBuild[] = [{ os: 'linux', arch: 'arm', variant: 'v7', path: '/7' }, { os: 'linux', arch: 'arm', variant: 'v6', path: '/6' }];
    assert.equal(pickBuild(P('linux', 'arm'), builds)?.path, '/6');
  });

  it('a build without a variant serves any variant', () => {
    assert.equal(pickBuild(P('linux', 'amd64', 'v3'), [{ os: 'linux', arch: 'amd64', variant: '', path: '/x' }])?.path, '/x');
  });

  it('no build for the platform names the platform and the builds that exist', async t => {
    const dir = await fakeDist(t, ['linux_amd64', 'darwin_arm64']);
    assert.throws(() => resolveBinary(P('linux', 'mips64'), dir), (e: Error & { code?: string }) =>
      e.code === 'ERR_UNSUPPORTED' && e.message.includes('linux/mips64') && e.message.includes('darwin/arm64, linux/amd64'));
  });

  it('a missing dist folder says to build the agent', () => {
    assert.throws(() => resolveBinary(P('linux', 'amd64'), '/nonexistent/dist'), /does not exist/);
  });
});

describe('goreleaser layouts', () => {
  it('reads dist/artifacts.json (paths relative to the project, goarm and goamd64 variants)', async t => {
    const project = await tempDir(t, 'rmount-gr-');
    const dist = join(project, 'dist');
    const arts = [
      { name: 'tool', path: 'dist/tool_linux_amd64_v1/tool', goos: 'linux', goarch: 'amd64', goamd64: 'v1', type: 'Binary' },
      { name: 'tool', path: 'dist/tool_linux_arm_6/tool', goos: 'linux', goarch: 'arm', goarm: '6', type: 'Binary' },
      { name: 'tool', path: 'dist/tool_linux_arm64/tool', goos: 'linux', goarch: 'arm64', type: 'Binary' },
      { name: 'tool_1.0_linux_arm64.tar.gz', path: 'dist/tool_1.0_linux_arm64.tar.gz', goos: 'linux', goarch: 'arm64', type: 'Archive' },
    ];
    for (const a of arts) {
      await mkdir(join(project, a.path, '..'), { recursive: true });
      await writeFile(join(project, a.path), a.name);
    }
    await writeFile(join(dist, 'artifacts.json'), JSON.stringify(arts));
    assert.equal(resolveBinary(P('linux', 'amd64'), dist).path, join(project, 'dist/tool_linux_amd64_v1/tool'));
    assert.equal(resolveBinary(P('linux', 'arm', 'v7'), dist).path, join(project, 'dist/tool_linux_arm_6/tool'));
    assert.equal(resolveBinary(P('linux', 'arm64'), dist).path, join(project, 'dist/tool_linux_arm64/tool'));
    assert.throws(() => resolveBinary(P('darwin', 'arm64'), dist), /no build for darwin\/arm64.*linux\/amd64\/v1, linux\/arm\/v6, linux\/arm64/);
  });

  it('without artifacts.json reads the name_os_arch[_suffix] folders', async t => {
    const dist = await tempDir(t, 'rmount-gr-');
    for (const [folder, bin] of [['my_tool_linux_amd64_v1', 'my_tool'], ['my_tool_linux_arm_7', 'my_tool'], ['my_tool_darwin_arm64', 'my_tool'], ['my_tool_windows_amd64_v1', 'my_tool.exe']] as const) {
      await mkdir(join(dist, folder));
      await writeFile(join(dist, folder, bin), folder);
    }
    await writeFile(join(dist, 'checksums.txt'), '');
    assert.equal(resolveBinary(P('linux', 'amd64'), dist).path, join(dist, 'my_tool_linux_amd64_v1/my_tool'));
    assert.equal(resolveBinary(P('linux', 'arm', 'v7'), dist).path, join(dist, 'my_tool_linux_arm_7/my_tool'));
    assert.equal(resolveBinary(P('darwin', 'arm64'), dist).path, join(dist, 'my_tool_darwin_arm64/my_tool'));
    assert.equal(resolveBinary(P('windows', 'amd64'), dist).path, join(dist, 'my_tool_windows_amd64_v1/my_tool.exe'));
    assert.throws(() => resolveBinary(P('linux', 'arm', 'v6'), dist), /no build for linux\/arm\/v6/);
  });

  it('templates expand {os} {arch} {variant}, falling back arm v7 → v6 and dropping an empty variant', async t => {
    const dir = await tempDir(t, 'rmount-tpl-');
    for (const n of ['myagent_linux_amd64', 'myagent_linux_arm_v6']) await writeFile(join(dir, n), n);
    const tpl = join(dir, 'myagent_{os}_{arch}_{variant}');
    assert.equal(resolveBinary(P('linux', 'amd64'), tpl).path, join(dir, 'myagent_linux_amd64'));
    assert.equal(resolveBinary(P('linux', 'arm', 'v7'), tpl).path, join(dir, 'myagent_linux_arm_v6'));
    assert.equal(resolveBinary(P('linux', 'amd64'), join(dir, 'myagent_{os}_{arch}')).path, join(dir, 'myagent_linux_amd64'));
    assert.throws(() => resolveBinary(P('linux', 'arm64'), tpl), /no build for linux\/arm64/);
  });
});
