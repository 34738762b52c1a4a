import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { renderClientConfig, startSshd, type AfterHook, type SshdFixture } from './sshd.ts';
import { tempDir } from './tmp.ts';

/** A test sshd reached through a fault proxy, and what `rmount mount` needs to reach it there. */
export interface ProxiedSshd {
  sshd: SshdFixture;
  proxy: FaultProxy;
  /** The served folder, on this machine's disk. */
  back: string;
  /** `ssh://user@127.0.0.1:<proxy port><back>`. */
  dest: string;
  /** `-F`, `--known-hosts` and `-i` for the CLI. */
  extraArgs: string[];
}

/**
 * Starts sshd, a fault proxy in front of it and a client config with short keepalives
 * (ServerAliveInterval 1 × 3), so that a blackhole is noticed in seconds rather than OpenSSH-style
 * never. Everything is stopped by `hook`; the proxy is restored first.
 */
export async function proxiedSshd(hook: AfterHook): Promise<ProxiedSshd> {
  const sshd = await startSshd(hook);
  const proxy = await startFaultProxy(hook, sshd.port);
  hook.after(() => proxy.restore());
  const back = await tempDir(hook, 'rmount-back-');
  const dir = await tempDir(hook, 'rmount-ssh-');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${proxy.port} ${sshd.hostPublicKey}\n`);
  const config = join(dir, 'ssh_config');
  await writeFile(config, `${renderClientConfig({ hosts: '127.0.0.1', port: proxy.port, user: sshd.user, identityFile: sshd.userKey, knownHostsFile: knownHosts })}`
    + '  ServerAliveInterval 1\n  ServerAliveCountMax 3\n');
  return { sshd, proxy, back, dest: `ssh://${sshd.user}@127.0.0.1:${proxy.port}${back}`, extraArgs: ['-F', config, '--known-hosts', knownHosts, '-i', sshd.userKey] };
}
