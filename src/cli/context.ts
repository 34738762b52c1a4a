import type { Command } from 'commander';
import type { Writable } from 'node:stream';
import type { LauncherLink } from './launcher.ts';

/** What commands may touch of the process; only src/cli sees it. */
export interface CliContext {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Set by a command that wants a specific exit code (exec passes the remote's through). */
  exitCode: number;
  /** bin/rmount's shell part, when it started this process: a background mount then runs here. */
  launcher?: LauncherLink;
}

/** Adds the connection options every remote-reaching command takes. */
export function addConnectOptions(cmd: Command): Command {
  return cmd
    .option('--accept-new', 'trust an unknown SSH host key on first use and record it in known_hosts')
    .option('-F, --ssh-config <file>', 'ssh_config file to use instead of ~/.ssh/config')
    .option('-i, --identity <file>', 'SSH identity (private key) file to try first')
    .option('--known-hosts <file>', 'known_hosts file to use')
    .option('--connect-timeout <duration>', 'give up connecting after this long (default 30s)');
}
