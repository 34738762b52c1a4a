import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { connectAgentHost, type AgentHostClient } from '../../src/sessions/agent-host.ts';

/**
 * A fresh connection to the process host on `socket` (`agent connect --start` run here, its stdio
 * as the transport; a host is started when none listens), closed after the test `t`.
 */
export async function connectLocalHost(t: Pick<TestContext, 'after'>, agent: string, socket: string): Promise<AgentHostClient> {
  const child = spawn(agent, ['connect', '--start', '--socket', socket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').catch(() => undefined);
  const client = await connectAgentHost(Duplex.from({ readable: child.stdout, writable: child.stdin }));
  t.after(async () => {
    client.close();
    await client.closed;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return client;
}
