import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { constants, existsSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { CliContext } from '../context.ts';

/** One finding of `rmount doctor`. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const run = promisify(execFile);

async function onPath(cmd: string): Promise<string | undefined> {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (dir !== '' && existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

/** Checks what rmount needs on this machine; each failure says how to fix it. */
export async function runChecks(env: NodeJS.ProcessEnv): Promise<Check[]> {
  const checks: Check[] = [];
  if (!existsSync('/dev/fuse')) {
    checks.push({ name: '/dev/fuse', status: 'fail', detail: 'missing', fix: 'load the fuse module (modprobe fuse), or run the container with --device /dev/fuse --cap-add SYS_ADMIN' });
  } else {
    const ok = await access('/dev/fuse', constants.R_OK | constants.W_OK).then(() => true, () => false);
    checks.push(ok
      ? { name: '/dev/fuse', status: 'ok', detail: 'present and usable' }
      : { name: '/dev/fuse', status: 'fail', detail: 'present but not readable/writable by you', fix: 'add yourself to the group that owns /dev/fuse, or check its mode (crw-rw-rw-)' });
  }
  const fusermount = await onPath('fusermount3');
  if (fusermount === undefined) {
    checks.push({ name: 'fusermount3', status: 'fail', detail: 'not found', fix: 'apt-get install fuse3' });
  } else {
    const setuid = (statSync(fusermount).mode & 0o4000) !== 0;
    checks.push(setuid || process.getuid?.() === 0
      ? { name: 'fusermount3', status: 'ok', detail: fusermount }
      : { name: 'fusermount3', status: 'warn', detail: `${fusermount} is not setuid root; mounting as a normal user will fail`, fix: 'chmod u+s ' + fusermount });
  }
  const libfuse = await run('sh', ['-c', 'ldconfig -p 2>/dev/null | grep -q "libfuse3.so.3"']).then(() => true, () => false);
  checks.push(libfuse
    ? { name: 'libfuse3', status: 'ok', detail: 'libfuse3.so.3 found' }
    : { name: 'libfuse3', status: 'fail', detail: 'libfuse3.so.3 not found', fix: 'apt-get install fuse3 libfuse3-dev, then npm run build' });
  const require = createRequire(import.meta.url);
  let addon: Check;
  try {
    require('../../../build/Release/fuse_binding.node');
    addon = { name: 'fuse addon', status: 'ok', detail: 'build/Release/fuse_binding.node loads' };
  } catch (error) {
    addon = { name: 'fuse addon', status: 'fail', detail: `cannot load the native FUSE binding (${(error as Error).message.split('\n')[0]})`, fix: 'apt-get install libfuse3-dev, then npm run build' };
  }
  checks.push(addon);
  const sock = env.SSH_AUTH_SOCK;
  if (sock === undefined || sock === '') {
    checks.push({ name: 'ssh-agent', status: 'warn', detail: 'SSH_AUTH_SOCK is not set; only identity files and passwords will be tried', fix: 'eval "$(ssh-agent)" && ssh-add' });
  } else if (!existsSync(sock)) {
    checks.push({ name: 'ssh-agent', status: 'warn', detail: `SSH_AUTH_SOCK points to ${sock}, which does not exist`, fix: 'start a new agent: eval "$(ssh-agent)" && ssh-add' });
  } else {
    checks.push({ name: 'ssh-agent', status: 'ok', detail: sock });
  }
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost !== undefined && dockerHost !== '') {
    checks.push({ name: 'docker', status: 'ok', detail: `DOCKER_HOST=${dockerHost}` });
  } else if (existsSync('/var/run/docker.sock')) {
    checks.push({ name: 'docker', status: 'ok', detail: '/var/run/docker.sock' });
  } else {
    checks.push({ name: 'docker', status: 'warn', detail: 'no Docker engine socket (only needed for docker:// and compose://)', fix: 'start dockerd, or set DOCKER_HOST' });
  }
  return checks;
}

/** `rmount doctor`: checks the machine; exit 1 when something rmount needs is missing. */
export function registerDoctor(program: Command, ctx: CliContext): void {
  program.command('doctor')
    .description('check FUSE, libfuse3, the native addon, ssh-agent and the Docker socket; say how to fix what is missing')
    .option('--json', 'print the checks as JSON')
    .action(async (flags: { json?: boolean }) => {
      const checks = await runChecks(ctx.env);
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      } else {
        for (const c of checks) {
          ctx.stdout.write(`${c.status.padEnd(4)}  ${c.name.padEnd(12)} ${c.detail}\n`);
          if (c.fix !== undefined && c.status !== 'ok') ctx.stdout.write(`      ${''.padEnd(12)} fix: ${c.fix}\n`);
        }
      }
      if (checks.some(c => c.status === 'fail')) ctx.exitCode = 1;
    });
}
