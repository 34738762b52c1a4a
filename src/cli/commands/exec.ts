import type { Command } from 'commander';
import type { Writable } from 'node:stream';
import { UsageError } from '../../remote/errors.ts';
import { exitCodeOf, type ExecOptions, type PtyOptions, type Session } from '../../remote/session.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { parseDuration, withBackend, type ConnectFlags } from '../connect.ts';
import { findMountTarget } from '../mount-target.ts';

interface ExecFlags extends ConnectFlags {
  in?: string;
  cwd?: string;
  tty?: boolean;
  env: string[];
  timeout?: string;
  mapArgs?: boolean;
  rewriteOutput?: boolean;
  detach?: boolean;
  name?: string;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
/** After --timeout's SIGTERM, how long before SIGKILL, and before giving up on the remote. */
const KILL_AFTER_MS = 5000;
const GIVE_UP_AFTER_MS = 10_000;
/** timeout(1)'s exit code for a command it had to stop. */
const TIMED_OUT = 124;

/**
 * `rmount exec [--in <mountpoint|dest>] -- <cmd> [args…]` and the older `rmount exec <dest> -- <cmd>`:
 * runs a command remotely, passing its exit code through. Inside a mount it runs over the mount
 * daemon's connection (its control socket) in the matching remote folder.
 */
export function registerExec(program: Command, ctx: CliContext): void {
  addConnectOptions(program.command('exec')
    .description('run a command on the remote, in the remote folder matching this one when inside a mount (argv passed as is, never spliced into a shell line)')
    .usage('[options] [--in <mountpoint|dest>] -- <cmd> [args…]   (or: exec [options] <dest> -- <cmd> [args…])')
    .argument('[words...]', 'command and its arguments, after --; or a destination, then -- and the command')
    .option('--in <mountpoint|dest>', 'run through this mount (or connect to this destination) instead of the mount holding the current folder')
    .option('--cwd <dir>', 'remote working folder; a local path under the mount is mapped (default: the folder matching the current one, else the destination path)')
    .option('-t, --tty', 'allocate a pseudo-terminal even when stdin/stdout are not terminals')
    .option('-T, --no-tty', 'never allocate a pseudo-terminal')
    .option('--env <K=V>', 'set an environment variable (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--timeout <duration>', 'stop the command after this long (SIGTERM, then SIGKILL) and exit 124, as timeout(1)')
    .option('--map-args', 'map arguments that are local paths under the mount to remote paths')
    .option('--rewrite-output', 'map remote paths in the output back to local paths under the mount')
    .option('-d, --detach', 'start it in a detached session and print the session id (as rmount session start)')
    .option('--name <name>', 'with --detach: the session\'s name')
    .passThroughOptions())
    .action(async (words: string[], flags: ExecFlags, cmd: Command) => {
      const { dest, argv } = splitWords(words, (cmd.parent as { rawArgs?: string[] } | null)?.rawArgs ?? []);
      if (argv.length === 0) throw new UsageError('exec needs a command', { suggestion: 'rmount exec [--in <mountpoint|dest>] -- <cmd> [args…]' });
      if (flags.detach === true) {
        const { startSession } = await import('./session.ts');
        const inFlag = dest ?? flags.in;
        await startSession(argv, { ...flags, ...(inFlag === undefined ? {} : { in: inFlag }) }, ctx);
        return;
      }
      const env = parseEnv(flags.env);
      const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout, 'timeout');
      const pty = ptyFor(flags.tty);
      if (dest === undefined) {
        const through = await execThroughMount(argv, flags, env, pty, ctx);
        if (through !== undefined) {
          ctx.exitCode = await runAttached(through.session, ctx, { timeoutMs, rewrite: through.rewrite });
          return;
        }
      }
      const target = dest ?? flags.in;
      if (target === undefined) {
        throw new UsageError(`${process.cwd()} is not inside a mount`, { suggestion: 'run it inside a mount, or name one: rmount exec --in <mountpoint|dest> -- <cmd>' });
      }
      ctx.exitCode = await withBackend(target, flags, async backend => {
        const cwd = flags.cwd ?? backend.destination.path;
        const options: ExecOptions = { env };
        if (cwd !== undefined) options.cwd = cwd;
        if (pty !== undefined) options.pty = pty;
        return runAttached(await backend.exec(argv, options), ctx, { timeoutMs });
      });
    });
}

/**
 * Splits the operands into an optional destination and the command. commander drops a `--` that
 * comes before any operand, so the operands equal what follows the first raw `--` exactly when
 * no destination was given (`exec -- ls -- x` is the command `ls -- x`).
 */
export function splitWords(words: readonly string[], rawArgs: readonly string[]): { dest?: string; argv: string[] } {
  const dash = rawArgs.indexOf('--');
  const afterDash = dash < 0 ? undefined : rawArgs.slice(dash + 1);
  if (afterDash !== undefined && afterDash.length === words.length && afterDash.every((w, i) => w === words[i])) {
    return { argv: [...words] };
  }
  if (words.length === 0) return { argv: [] };
  const rest = words.slice(1);
  return { dest: words[0]!, argv: rest[0] === '--' ? rest.slice(1) : rest };
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

/** -t forces a pty, -T none; by default one only when stdin and stdout are both terminals. */
function ptyFor(tty: boolean | undefined): PtyOptions | undefined {
  const want = tty ?? (process.stdin.isTTY === true && process.stdout.isTTY === true);
  if (!want) return undefined;
  return {
    cols: process.stdout.columns || 80,
    rows: process.stdout.rows || 24,
    term: process.env.TERM ?? 'xterm-256color',
  };
}

/**
 * Starts `argv` through the mount that holds `--in` (a local folder) or the current folder.
 * Undefined when there is no such mount: the caller then connects directly.
 */
async function execThroughMount(
  argv: string[], flags: ExecFlags, env: Record<string, string>, pty: PtyOptions | undefined, ctx: CliContext,
): Promise<{ session: Session; rewrite?: import('../../exec/path-map.ts').PathMapping } | undefined> {
  const target = await findMountTarget(ctx, flags.in, flags.cwd);
  if (target === undefined) return undefined;
  const { mapArguments } = await import('../../exec/path-map.ts');
  const { connectControl } = await import('../../control/client.ts');
  const client = await connectControl(target.socket);
  const session = await client.exec({
    argv: flags.mapArgs === true ? mapArguments(target.mapping, argv) : argv,
    cwd: target.cwd,
    ...(Object.keys(env).length === 0 ? {} : { env }),
    ...(pty === undefined ? {} : { pty }),
  });
  return flags.rewriteOutput === true ? { session, rewrite: target.mapping } : { session };
}

interface AttachOptions {
  timeoutMs?: number | undefined;
  rewrite?: import('../../exec/path-map.ts').PathMapping | undefined;
}

/**
 * Runs a started session with this process's stdin/stdout/stderr attached: output is forwarded
 * byte for byte, signals are passed on, a local TTY is put in raw mode under a pty and its size
 * followed. Resolves with the shell-style exit code (124 when --timeout stopped it).
 */
async function runAttached(session: Session, ctx: CliContext, options: AttachOptions): Promise<number> {
  const stdin = process.stdin;
  const rawTty = session.pty && stdin.isTTY === true;
  if (rawTty) stdin.setRawMode(true);
  stdin.pipe(session.stdin);
  const onSignal = (signal: NodeJS.Signals): void => void session.kill(signal).catch(() => {});
  for (const s of FORWARDED_SIGNALS) process.on(s, onSignal);
  const onResize = (): void => session.resize(process.stdout.columns, process.stdout.rows);
  if (session.pty) process.stdout.on('resize', onResize);
  let stdout: Writable = ctx.stdout;
  let stderr: Writable = ctx.stderr;
  if (options.rewrite !== undefined) {
    const { PathRewriteStream } = await import('../../exec/rewrite-stream.ts');
    stdout = new PathRewriteStream(options.rewrite);
    stderr = new PathRewriteStream(options.rewrite);
    stdout.pipe(ctx.stdout, { end: false });
    stderr.pipe(ctx.stderr, { end: false });
  }
  const outputDone = Promise.all([drain(session.stdout, stdout), drain(session.stderr, stderr)]);
  const timers: NodeJS.Timeout[] = [];
  let timedOut = false;
  let giveUp: Promise<void> | undefined;
  if (options.timeoutMs !== undefined) {
    giveUp = new Promise(resolveGiveUp => {
      timers.push(setTimeout(() => {
        timedOut = true;
        void session.kill('SIGTERM').catch(() => {});
        timers.push(setTimeout(() => void session.kill('SIGKILL').catch(() => {}), KILL_AFTER_MS));
        timers.push(setTimeout(resolveGiveUp, GIVE_UP_AFTER_MS));
      }, options.timeoutMs));
    });
  }
  try {
    const status = await (giveUp === undefined ? session.wait() : Promise.race([session.wait(), giveUp.then(() => undefined)]));
    if (status !== undefined) await outputDone;
    if (options.rewrite !== undefined) await Promise.all([endOf(stdout), endOf(stderr)]);
    return timedOut ? TIMED_OUT : status === undefined ? TIMED_OUT : exitCodeOf(status);
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const s of FORWARDED_SIGNALS) process.off(s, onSignal);
    process.stdout.off('resize', onResize);
    stdin.unpipe(session.stdin);
    if (rawTty) stdin.setRawMode(false);
    stdin.pause();
    session.close();
  }
}

function drain(from: NodeJS.ReadableStream, to: Writable): Promise<void> {
  return new Promise(resolveDrain => {
    let broken = false;
    to.on('error', () => { broken = true; });
    from.on('data', (chunk: Buffer) => {
      if (broken) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', resolveDrain);
    from.on('close', resolveDrain);
    from.on('error', () => resolveDrain());
  });
}

/** Ends a rewrite stream and resolves once everything it held has been passed on. */
function endOf(stream: Writable): Promise<void> {
  return new Promise(resolveEnd => {
    stream.once('end', resolveEnd);
    stream.end();
  });
}
