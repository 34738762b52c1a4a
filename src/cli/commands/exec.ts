import type { Command } from 'commander';
import type { Backend } from '../../remote/backend.ts';
import { UsageError } from '../../remote/errors.ts';
import { exitCodeOf, type ExecOptions, type Session } from '../../remote/session.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { connectFromCli, type ConnectFlags } from '../connect.ts';

interface ExecFlags extends ConnectFlags {
  cwd?: string;
  tty?: boolean;
  env: string[];
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** `rmount exec <dest> -- <cmd> [args…]`: runs a command remotely, passing its exit code through. */
export function registerExec(program: Command, ctx: CliContext): void {
  addConnectOptions(program.command('exec')
    .description('run a command on the remote (argv passed as is, never spliced into a shell line)')
    .argument('<dest>', 'destination')
    .argument('<command...>', 'command and its arguments (put them after --)')
    .option('--cwd <dir>', 'remote working folder (default: the destination path, else home)')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--env <K=V>', 'set an environment variable (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .passThroughOptions())
    .action(async (dest: string, words: string[], flags: ExecFlags) => {
      const argv = words[0] === '--' ? words.slice(1) : words;
      if (argv.length === 0) throw new UsageError('exec needs a command', { suggestion: 'rmount exec <dest> -- <cmd> [args…]' });
      const env = parseEnv(flags.env);
      const backend = await connectFromCli(dest, flags);
      try {
        const cwd = flags.cwd ?? backend.destination.path;
        const options: ExecOptions = { env };
        if (cwd !== undefined) options.cwd = cwd;
        const tty = flags.tty === true && process.stdout.isTTY === true;
        if (tty) options.pty = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24, term: process.env.TERM ?? 'xterm-256color' };
        ctx.exitCode = await runAttached(backend, argv, options, ctx);
      } finally {
        await backend.close();
      }
    });
}

/** K=V strings → record; a string without "=" is a usage error. */
export function parseEnv(list: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --env "${item}"`, { suggestion: 'use --env NAME=value' });
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

/**
 * Runs `argv` with this process's stdin/stdout/stderr attached: output is forwarded byte for
 * byte, signals are passed on, a local TTY is put in raw mode under a pty and its size followed.
 * Resolves with the shell-style exit code.
 */
async function runAttached(backend: Backend, argv: string[], options: ExecOptions, ctx: CliContext): Promise<number> {
  const session: Session = await backend.exec(argv, options);
  const stdin = process.stdin;
  const rawTty = session.pty && stdin.isTTY === true;
  if (rawTty) stdin.setRawMode(true);
  stdin.pipe(session.stdin);
  const onSignal = (signal: NodeJS.Signals): void => void session.kill(signal).catch(() => {});
  for (const s of FORWARDED_SIGNALS) process.on(s, onSignal);
  const onResize = (): void => session.resize(process.stdout.columns, process.stdout.rows);
  if (session.pty) process.stdout.on('resize', onResize);
  const outputDone = Promise.all([drain(session.stdout, ctx.stdout), drain(session.stderr, ctx.stderr)]);
  try {
    const status = await session.wait();
    await outputDone;
    return exitCodeOf(status);
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, onSignal);
    process.stdout.off('resize', onResize);
    stdin.unpipe(session.stdin);
    if (rawTty) stdin.setRawMode(false);
    stdin.pause();
    session.close();
  }
}

function drain(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): Promise<void> {
  return new Promise(resolve => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', resolve);
    from.on('close', resolve);
    from.on('error', () => resolve());
  });
}
