/**
 * The command line of the user's own OpenSSH client for one file channel, and what its failures
 * mean. Pure: the argv is a function of the destination and rmount's options, and a failure is a
 * function of the exit status and what ssh wrote to stderr, so both are tested as tables.
 *
 * Only what rmount itself was told goes on the command line: ssh_config decides everything else
 * (HostName, ProxyJump/ProxyCommand, ControlMaster, keys, ciphers), exactly as for `ssh host`.
 */
import { AuthError, HostKeyError, RmountError, TimeoutError, UnreachableError, UnsupportedError, type HostKeyProblem } from '../../remote/errors.ts';

/** The OpenSSH client could not be run at all (not installed, not executable). */
export class SshClientError extends RmountError {
  override readonly name = 'SshClientError';
  readonly code = 'ERR_SSH_CLIENT';
  readonly errno = 'ENOSYS';
}

/** Which remote side the channel runs: a subsystem (`sftp`) or a command line for the login shell. */
export type OpensshRemote = { subsystem: string } | { command: string };

/** What rmount knows about the destination and was told on its own command line. */
export interface OpensshTarget {
  /** The host as the user wrote it (an ssh_config alias stays an alias). */
  host: string;
  /** From the destination (`user@`, `:port`) only; ssh_config supplies them otherwise. */
  user?: string;
  port?: number;
  /** `--ssh-config`: `ssh -F`. */
  configFile?: string;
  /** `--identity`: `ssh -i`. */
  identityFile?: string;
  /** `--known-hosts`: replaces UserKnownHostsFile, as it does for the built-in client. */
  knownHostsFile?: string;
  /** `--accept-new`. */
  acceptNew: boolean;
  /** `--connect-timeout`, seconds. */
  connectTimeoutS?: number;
  /** Set when ssh_config has no ServerAliveInterval of its own (OpenSSH's default is never). */
  serverAliveIntervalS?: number;
  /** False only where a person can answer ssh's prompts on the terminal. */
  batchMode: boolean;
}

/**
 * The arguments after `ssh`. No X11 or agent forwarding, no TTY, and none of the forwardings
 * ssh_config may declare for interactive logins (each file channel would try to bind them again),
 * as sshfs runs it.
 */
export function renderOpensshArgs(target: OpensshTarget, remote: OpensshRemote): string[] {
  const args = ['-x', '-a', '-T', '-o', 'ClearAllForwardings=yes', '-o', `BatchMode=${target.batchMode ? 'yes' : 'no'}`];
  if (target.configFile !== undefined) args.push('-F', target.configFile);
  if (target.identityFile !== undefined) args.push('-i', target.identityFile);
  if (target.knownHostsFile !== undefined) args.push('-o', `UserKnownHostsFile=${configWord(target.knownHostsFile)}`);
  if (target.acceptNew) args.push('-o', 'StrictHostKeyChecking=accept-new');
  if (target.connectTimeoutS !== undefined) args.push('-o', `ConnectTimeout=${Math.max(1, Math.ceil(target.connectTimeoutS))}`);
  if (target.serverAliveIntervalS !== undefined) args.push('-o', `ServerAliveInterval=${target.serverAliveIntervalS}`);
  if (target.user !== undefined) args.push('-l', target.user);
  if (target.port !== undefined) args.push('-p', String(target.port));
  if ('subsystem' in remote) args.push('-s');
  // `--` keeps a host that starts with `-` from being read as an option.
  args.push('--', target.host, 'subsystem' in remote ? remote.subsystem : remote.command);
  return args;
}

// ssh splits a `-o` value on whitespace unless it is quoted.
function configWord(value: string): string {
  return /[\s"]/.test(value) ? `"${value.replace(/(["\\])/g, '\\$1')}"` : value;
}

/** How the child `ssh` ended, and the tail of its stderr. */
export interface OpensshExit {
  code: number | null;
  signal: string | null;
  stderr: string;
}

/**
 * What a failed channel start means, as one of rmount's errors; undefined when ssh itself did not
 * fail (it exited with the remote command's status, or was stopped by us). `addr` and `host` name
 * the destination in messages.
 */
export function classifyOpensshExit(exit: OpensshExit, where: { addr: string; host: string; port?: number }): RmountError | undefined {
  const text = exit.stderr.trim();
  const said = lastLines(text);
  const cause = text === '' ? undefined : new Error(text);
  const retry = `ssh ${where.port === undefined ? '' : `-p ${where.port} `}${where.host} true`;
  if (/subsystem request failed/i.test(text)) {
    return new UnsupportedError(`${where.addr} offers no sftp subsystem (OpenSSH: ${said})`, {
      cause,
      suggestion: 'enable it in the server\'s sshd_config ("Subsystem sftp internal-sftp" or the sftp-server path), or use the rmount agent (-o agent=yes)',
    });
  }
  // Any other remote status is the remote command's own (the agent's), for the caller to judge.
  if (exit.code !== 255) return undefined;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known for|REVOKED HOST KEY/i.test(text)) {
    const problem: HostKeyProblem = /REVOKED/i.test(text) ? 'revoked' : /HAS CHANGED/i.test(text) ? 'changed' : 'unknown';
    return new HostKeyError(`OpenSSH refused the host key of ${where.addr}: ${said}`, problem, where.host, /SHA256:[A-Za-z0-9+/=]+/.exec(text)?.[0] ?? '', {
      cause,
      suggestion: `OpenSSH checks its own known_hosts (UserKnownHostsFile), which may differ from what rmount checked; run \`${retry}\` once to see and accept the key, or mount with -o ssh_client=builtin`,
    });
  }
  if (/Permission denied|Too many authentication failures|No more authentication methods/i.test(text)) {
    return new AuthError(`OpenSSH could not log in to ${where.addr}: ${said}`, {
      cause,
      suggestion: `rmount runs ssh with BatchMode=yes, so it cannot ask for a passphrase or password: load the key into ssh-agent (ssh-add), or share a login through ControlMaster in ~/.ssh/config; \`${retry}\` shows what OpenSSH does`,
    });
  }
  if (/timed out/i.test(text)) {
    return new TimeoutError(`OpenSSH could not reach ${where.addr}: ${said}`, {
      cause,
      suggestion: 'check the network path and the port; a slow link needs a longer --connect-timeout (or ConnectTimeout in ~/.ssh/config)',
    });
  }
  return new UnreachableError(`OpenSSH could not open a channel to ${where.addr}: ${said === '' ? 'ssh exited with status 255' : said}`, {
    cause,
    suggestion: `\`${retry}\` shows what OpenSSH does (add -v for details)`,
  });
}

// The lines that say what failed, without the banner art of the host-key warnings.
function lastLines(text: string): string {
  const lines = text.split(/\r?\n/).map(l => l.trim()).filter(l => l !== '' && !/^@+/.test(l) && !/^Warning: Permanently added/.test(l));
  return lines.slice(-2).join(' ');
}
