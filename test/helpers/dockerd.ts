/**
 * A private Docker engine for tests and benchmarks: Debian's `dockerd` started inside
 * `unshare --net` (a network namespace with loopback only) on its own unix socket, data root,
 * exec root and pidfile under a temporary folder, with every networking feature that would touch
 * the machine turned off. A busybox image is imported from Debian's busybox-static (no registry is
 * reachable), and containers run with `--network none --pull never --init`. The cleanup registered
 * with the caller's hook removes the containers, stops the daemon by ITS pid (and what is left of
 * its containerd and shims, found by the temporary folder in their command line), unmounts what
 * is left under the data root and removes the folder, also when a test failed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMounts } from '../../src/system/mountinfo.ts';
import { requirePart, which } from './skip.ts';
import type { AfterHook } from './sshd.ts';

/** The image every test container runs. */
export const BUSYBOX_IMAGE = 'rmount-test/busybox:latest';
/** The busybox-static binary Debian installs. */
const BUSYBOX_STATIC = '/bin/busybox';
/** A non-root user in the image (uid 1000, home /home/app). */
export const APP_USER = { name: 'app', uid: 1000, gid: 1000, home: '/home/app' };

/** Why a private dockerd cannot run here, or false. Under RMOUNT_TEST_REQUIRE=all a reason throws. */
export function dockerdSkipReason(): string | false {
  if (process.getuid?.() !== 0) return requirePart('dockerd needs root (Docker)');
  if (!which('dockerd')) return requirePart('dockerd not installed (Docker; Debian package docker.io)');
  if (!which('containerd')) return requirePart('containerd not installed (Docker; Debian package docker.io)');
  if (!which('docker')) return requirePart('docker CLI not installed (Docker; Debian package docker.io)');
  if (!which('unshare')) return requirePart('unshare not installed (Docker; Debian package util-linux)');
  if (!existsSync(BUSYBOX_STATIC)) return requirePart('busybox-static not installed (Docker; Debian package busybox-static)');
  return false;
}

/** A running private engine. */
export interface DockerdFixture {
  /** `unix:///tmp/…/docker.sock`. */
  readonly host: string;
  /** The socket's path. */
  readonly socketPath: string;
  /** The environment for the docker CLI and for rmount (DOCKER_HOST, no context). */
  readonly env: NodeJS.ProcessEnv;
  /** The daemon's pid. */
  readonly pid: number;
  /** Runs the docker CLI against this engine; rejects with its stderr when it fails. */
  docker(args: string[], input?: Buffer | string): Promise<string>;
  /**
   * Starts a container of the busybox image running `sleep` (or `cmd`), with `--network none
   * --pull never --init` and the extra `args` (e.g. `-v dir:/work`); removed at cleanup.
   * Resolves with its name.
   */
  run(options?: { name?: string; args?: string[]; cmd?: string[]; image?: string }): Promise<string>;
  /** Imports a rootfs folder as an image (removed with the daemon). */
  importDir(dir: string, tag: string): Promise<void>;
}

let counter = 0;

/** Starts a private dockerd and imports the busybox image; everything is undone through `hook`. */
export async function startDockerd(hook: AfterHook): Promise<DockerdFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-dockerd-'));
  const socketPath = join(dir, 'docker.sock');
  const host = `unix://${socketPath}`;
  const env: NodeJS.ProcessEnv = { DOCKER_HOST: host, DOCKER_CONTEXT: '', DOCKER_CONFIG: join(dir, 'cli-config') };
  const containers: string[] = [];
  let child: ChildProcess | undefined;
  let daemonExited: Promise<void> = Promise.resolve();

  const docker = (args: string[], input?: Buffer | string): Promise<string> => new Promise((resolve, reject) => {
    const p = execFile('docker', args, { env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`docker ${args.join(' ')}: ${stderr || error.message}`, { cause: error }));
      else resolve(stdout);
    });
    p.stdin?.end(input);
  });

  hook.after(async () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      if (containers.length > 0) await docker(['rm', '-f', '-v', ...containers]).catch(() => {});
      child.kill('SIGTERM');
      const ended = await Promise.race([daemonExited.then(() => true), sleep(20_000).then(() => false)]);
      if (!ended) child.kill('SIGKILL');
      await daemonExited;
    }
    await killLeftovers(dir);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true }).catch(async () => {
      await sleep(500);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
    });
  });

  const logFile = join(dir, 'dockerd.log');
  await writeFile(logFile, '');
  const { openSync, closeSync } = await import('node:fs');
  const logFd = openSync(logFile, 'a');
  // `unshare --net` execs dockerd itself, so the child's pid is the daemon's.
  child = spawn('unshare', ['--net', '--', 'dockerd',
    '--host', host, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'),
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
    ...(process.env.RMOUNT_DOCKERD_STORAGE ? ['--storage-driver', process.env.RMOUNT_DOCKERD_STORAGE] : []),
  ], { stdio: ['ignore', logFd, logFd], detached: false });
  closeSync(logFd);
  const spawned = child;
  daemonExited = new Promise(resolve => spawned.once('exit', () => resolve()));
  const pid = spawned.pid!;

  const deadline = Date.now() + 60_000;
  while (!(await ping(socketPath))) {
    if (spawned.exitCode !== null || Date.now() > deadline) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`private dockerd did not start (exit ${spawned.exitCode}):\n${log.slice(-4000)}`);
    }
    await sleep(100);
  }

  const fixture: DockerdFixture = {
    host, socketPath, env, pid, docker,
    async run(options = {}) {
      const name = options.name ?? `rmount-t${process.pid}-${++counter}`;
      containers.push(name);
      await docker(['run', '-d', '--network', 'none', '--pull', 'never', '--init', '--name', name, ...(options.args ?? []),
        options.image ?? BUSYBOX_IMAGE, ...(options.cmd ?? ['sleep', '1000000'])]);
      return name;
    },
    async importDir(rootfs: string, tag: string) {
      await importRootfs(rootfs, tag, env);
    },
  };
  const rootfs = join(dir, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  await fixture.importDir(rootfs, BUSYBOX_IMAGE);
  await rm(rootfs, { recursive: true, force: true });
  return fixture;
}

/** Builds a minimal rootfs: busybox-static with every applet linked in /bin, users root, app, nobody. */
export async function makeBusyboxRootfs(rootfs: string): Promise<void> {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'work', 'home/app', 'proc', 'sys', 'dev']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chown(join(rootfs, 'home/app'), APP_USER.uid, APP_USER.gid);
  await copyFile(BUSYBOX_STATIC, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  const list = await new Promise<string>((resolve, reject) => execFile(BUSYBOX_STATIC, ['--list'], (e, out) => (e ? reject(e) : resolve(out))));
  for (const applet of list.split('\n').filter(a => a !== '' && a !== 'busybox')) {
    await symlink('busybox', join(rootfs, 'bin', applet)).catch(() => {});
  }
  await writeFile(join(rootfs, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\n${APP_USER.name}:x:${APP_USER.uid}:${APP_USER.gid}:app:${APP_USER.home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n`);
  await writeFile(join(rootfs, 'etc/group'), `root:x:0:\n${APP_USER.name}:x:${APP_USER.gid}:\nnogroup:x:65534:\n`);
}

/** `tar -c` of a folder piped into `docker import` (numeric owners kept). */
async function importRootfs(rootfs: string, tag: string, env: NodeJS.ProcessEnv): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imp = spawn('docker', ['import', '-', tag], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    imp.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    tar.stdout.pipe(imp.stdin);
    imp.on('error', reject);
    imp.on('close', code => (code === 0 ? resolve() : reject(new Error(`docker import exited ${code}: ${stderr}`))));
  });
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise(resolve => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, res => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.end();
  });
}

// containerd and its shims carry our folder in their command line; signal exactly those pids.
async function killLeftovers(dir: string): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const pids: number[] = [];
    for (const name of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(dir)) pids.push(Number(name));
    }
    if (pids.length === 0) return;
    for (const pid of pids) {
      try { process.kill(pid, round === 0 ? 'SIGTERM' : 'SIGKILL'); } catch { /* gone */ }
    }
    await sleep(round === 0 ? 1000 : 200);
  }
}

async function unmountUnder(dir: string): Promise<void> {
  const points = (await readMounts().catch(() => [])).map(m => m.mountpoint)
    .filter(p => p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    await new Promise<void>(resolve => execFile('umount', ['-l', p], () => resolve()));
  }
}
