import type { Backend } from '../remote/backend.ts';
import type { Destination } from '../remote/destination.ts';
import type { Logger } from '../remote/log.ts';

/** Options every backend may use; each takes what applies to it. */
export interface BackendOptions {
  /** SSH: an ssh_config file instead of ~/.ssh/config. */
  configFile?: string;
  /** SSH: a known_hosts file instead of the configured ones. */
  knownHostsFile?: string;
  /** SSH: an identity file tried before the configured ones. */
  identityFile?: string;
  /** SSH: trust an unknown host key on first use and record it. */
  acceptNew?: boolean;
  /** Connect timeout in ms (default 30 s). */
  connectTimeoutMs?: number;
  /** Asks the user (passphrase, password); absent when there is no TTY. */
  prompt?: (question: string, echo: boolean) => Promise<string>;
  /**
   * Files through rmount-agent over exec ('yes'), never ('no'), or 'auto': SSH uses it when the
   * sftp subsystem is missing, Docker whenever a build for the container can run there.
   */
  agent?: 'yes' | 'no' | 'auto';
  /** With the agent: how long it keeps open files for a new connection after the link dies, ms (0: not at all). */
  agentGraceMs?: number;
  /** SSH: the client for file traffic, rmount's own ('builtin', default) or the user's `ssh` ('openssh'). */
  sshClient?: 'builtin' | 'openssh';
  /** Where a long-lived backend says what its link does (lost, reconnecting, back). */
  log?: Logger;
}

/**
 * Makes the backend for a destination (not yet started). The one place that switches on the
 * destination type; each backend is loaded only when used, so a stub that runs over the control
 * socket never pays for ssh2 or dockerode.
 */
export async function openBackend(dest: Destination, options: BackendOptions = {}): Promise<Backend> {
  switch (dest.type) {
    case 'local': {
      const { LocalBackend } = await import('./local/backend.ts');
      return new LocalBackend(dest);
    }
    case 'ssh': {
      const { SshBackend } = await import('./ssh/backend.ts');
      return new SshBackend(dest, options);
    }
    case 'docker':
    case 'compose': {
      const { DockerBackend } = await import('./docker/backend.ts');
      return new DockerBackend(dest, {
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
        ...(options.agent === undefined ? {} : { agent: options.agent }),
        ...(options.agentGraceMs === undefined ? {} : { agentGraceMs: options.agentGraceMs }),
        ...(options.log === undefined ? {} : { log: options.log }),
      });
    }
  }
}

/** Makes and starts a backend; closes it again when starting fails. */
export async function connectBackend(dest: Destination, options: BackendOptions & { signal?: AbortSignal } = {}): Promise<Backend> {
  const backend = await openBackend(dest, options);
  try {
    await backend.start(options.signal);
    return backend;
  } catch (error) {
    await backend.close().catch(() => {});
    throw error;
  }
}
