/**
 * rmount-agent's process host reached through a backend: `rmount-agent connect --start` over the
 * backend's exec channel (an SSH channel on the existing connection, `docker exec`, a local
 * child), which starts the host on the remote when none runs and bridges its socket to stdio.
 */
import { Duplex } from 'node:stream';
import { startAgent, type InstallOptions } from '../agent/install.ts';
import type { Backend } from '../remote/backend.ts';
import { connectAgentHost, type AgentHostClient } from '../sessions/agent-host.ts';

/**
 * Connects to the agent's process host (started when none runs): in one exec where the remote has
 * the agent already (the quick start, see `quickStartArgv`), else after installing it.
 */
export async function openAgentHost(backend: Backend, install: InstallOptions = {}): Promise<AgentHostClient> {
  // A host this starts ends a minute after its last client left, when it holds no session (one
  // holding sessions stays, as sessions must).
  const args = ['connect', '--start', '--idle-exit', '1m'];
  return (await startAgent(backend, install, args, argv => connectOver(backend, argv))).started;
}

async function connectOver(backend: Backend, argv: string[]): Promise<AgentHostClient> {
  const session = await backend.exec(argv);
  let said = '';
  session.stderr.on('data', (chunk: Buffer) => { if (said.length < 2000) said += chunk.toString('utf8'); });
  const stream = Duplex.from({ readable: session.stdout, writable: session.stdin });
  stream.once('close', () => session.close());
  try {
    return await connectAgentHost(stream);
  } catch (error) {
    session.close();
    if (said.trim() !== '' && error instanceof Error) error.message += ` (the agent said: ${said.trim().split('\n').slice(-3).join(' ')})`;
    throw error;
  }
}
