import { readdir, readFile } from 'node:fs/promises';

/**
 * PIDs of rmount-agent processes running here whose first argument is `command` (`host`,
 * `sftp-keeper`): the test remotes are this machine, so what a mount starts "there" runs here,
 * and a test stops only the ones that appeared while it ran.
 */
export async function agentPids(command: string): Promise<Set<number>> {
  const pids = new Set<number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[1] === command && /rmount|agent/.test(argv[0] ?? '')) pids.add(Number(name));
  }
  return pids;
}
