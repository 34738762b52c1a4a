import type { Command } from 'commander';
import { UsageError } from '../../remote/errors.ts';
import type { SessionHost, SessionInfo, StartRequest } from '../../sessions/types.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { withBackend, type ConnectFlags } from '../connect.ts';
import { findMountTarget } from '../mount-target.ts';
import { attachTerminal, parseDetachKeys } from '../session-attach.ts';
import { parseEnv } from './exec.ts';

interface WhereFlags extends ConnectFlags {
  in?: string;
}

interface StartFlags extends WhereFlags {
  name?: string;
  tty?: boolean;
  cwd?: string;
  env: string[];
  buffer?: string;
}

/** Where session commands go: a mount's daemon, or a destination reached directly. */
interface Reach {
  /** `cwd` for a start: the remote folder matching the current one, when inside a mount. */
  cwd?: string;
  /** Inside a mount: ends other clients' attachments (see `session detach`). */
  detachAll?: (session: string) => Promise<number>;
  run<T>(use: (host: SessionHost) => Promise<T>): Promise<T>;
}

/**
 * The mount holding `--in` (a local folder) or the current folder, through its control socket;
 * else `--in` as a destination, connected to for this command.
 */
async function reach(flags: WhereFlags, ctx: CliContext, cwdFlag?: string): Promise<Reach> {
  const target = await findMountTarget(ctx, flags.in, cwdFlag);
  if (target !== undefined) {
    const { ControlSessionHost } = await import('../../control/session-client.ts');
    const host = new ControlSessionHost(target.socket);
    return { cwd: target.cwd, detachAll: session => host.detachAll(session), run: use => use(host) };
  }
  if (flags.in === undefined) {
    throw new UsageError(`${process.cwd()} is not inside a mount`, {
      suggestion: 'run it inside a mount, or name one: rmount session … --in <mountpoint|dest>',
    });
  }
  const dest = flags.in;
  return {
    ...(cwdFlag === undefined ? {} : { cwd: cwdFlag }),
    run: use => withBackend(dest, flags, async backend => {
      const { openAgentHost } = await import('../../backends/agent-host.ts');
      const host = await openAgentHost(backend);
      try {
        return await use(host);
      } finally {
        host.close();
      }
    }),
  };
}

const inOption = (cmd: Command): Command =>
  addConnectOptions(cmd.option('--in <mountpoint|dest>', 'the mount (a local folder) or destination whose sessions to use, instead of the mount holding the current folder'));

/** What `ls` shows as the state: running, exited N, killed SIG. */
export function stateText(s: SessionInfo): string {
  if (s.state === 'exited') return `exited ${s.exitCode ?? '?'}`;
  if (s.state === 'killed') return `killed ${s.signal ?? '?'}`;
  return 'running';
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The `ls` table: one row per session, columns padded. */
export function formatSessions(sessions: readonly SessionInfo[]): string {
  const rows = [['ID', 'NAME', 'STATE', 'CLIENTS', 'BUFFERED', 'CREATED', 'FOLDER', 'COMMAND']];
  for (const s of sessions) {
    rows.push([s.id, s.name === s.id ? '-' : s.name, stateText(s), String(s.clients), formatBytes(s.buffered), s.created, s.cwd, s.argv.join(' ')]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)));
  return rows.map(r => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** `--buffer`: bytes, with an optional k/M suffix (1000s, as the ring's default of 1,000,000). */
export function parseBuffer(text: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`invalid --buffer "${text}"`, { suggestion: 'a number of bytes, such as 1000000, 500k or 16M' });
  const n = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1000 : 1_000_000);
  if (n < 1 || n > 256 * 1024 * 1024) throw new UsageError(`--buffer ${text} is out of range`, { suggestion: 'from 1 byte to 256 MiB' });
  return n;
}

/** Starts a session and prints its id: `session start` and `exec --detach`. */
export async function startSession(argv: string[], flags: StartFlags, ctx: CliContext): Promise<void> {
  if (argv.length === 0) throw new UsageError('session start needs a command', { suggestion: 'rmount session start [options] -- <cmd> [args…]' });
  const r = await reach(flags, ctx, flags.cwd);
  const env = Object.entries(parseEnv(flags.env)).map(([k, v]) => `${k}=${v}`);
  const request: StartRequest = { argv };
  if (r.cwd !== undefined) request.cwd = r.cwd;
  if (env.length > 0) request.env = env;
  if (flags.name !== undefined) request.name = flags.name;
  if (flags.buffer !== undefined) request.buffer = parseBuffer(flags.buffer);
  if (flags.tty === true) {
    request.tty = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24, term: ctx.env.TERM ?? 'xterm-256color' };
  }
  const { id } = await r.run(host => host.start(request));
  ctx.stdout.write(`${id}\n`);
}

/** `rmount session …`. */
export function registerSession(program: Command, ctx: CliContext): void {
  const session = program.command('session')
    .description('detached remote sessions: commands that keep running (and keep their output) after you go, to attach to again from any terminal');

  inOption(session.command('start')
    .description('start a command in a detached session and print its id (the current folder maps into the mount as for exec)')
    .usage('[options] -- <cmd> [args…]')
    .argument('<words...>', 'command and its arguments, after --')
    .option('--name <name>', 'a name to use instead of the id (1-64 of A-Z a-z 0-9 . _ -)')
    .option('-t, --tty', 'give the command a terminal (sized as this one); attach then works as a terminal')
    .option('-T, --no-tty', 'no terminal: stdin is a pipe, stdout and stderr share one (the default)')
    .option('--cwd <dir>', 'remote working folder; a local path under the mount is mapped')
    .option('--env <K=V>', 'set an environment variable (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--buffer <bytes>', 'output kept for attach and logs (default 1000000; k and M suffixes)')
    .passThroughOptions())
    .action((words: string[], flags: StartFlags) => startSession(words, flags, ctx));

  inOption(session.command('ls')
    .description('list the sessions: id, name, state (running, exited N, killed SIG), attached clients, output buffered')
    .option('--json', 'print as JSON'))
    .action(async (flags: WhereFlags & { json?: boolean }) => {
      const r = await reach(flags, ctx);
      const [sessions, where] = await r.run(async host => [await host.list(), host.where] as const);
      ctx.stdout.write(flags.json === true ? `${JSON.stringify(sessions, null, 2)}\n` : `${formatSessions(sessions)}\n`);
      if (flags.json !== true && where === 'daemon') {
        ctx.stderr.write('these sessions live in the mount daemon (rmount-agent cannot run on the remote): they end when the mount does\n');
      }
    });

  inOption(session.command('attach')
    .description('replay what the session printed, then go live: what you type goes to it; the detach keys (Ctrl-P Ctrl-Q) leave it running')
    .argument('<session>', 'id or name')
    .option('--no-replay', 'only output from now on')
    .option('--detach-keys <keys>', 'key sequence that detaches, as docker spells it (default ctrl-p,ctrl-q)'))
    .action(async (id: string, flags: WhereFlags & { replay: boolean; detachKeys?: string }) => {
      const keys = parseDetachKeys(flags.detachKeys ?? 'ctrl-p,ctrl-q');
      const r = await reach(flags, ctx);
      ctx.exitCode = await r.run(async host => {
        const attachment = await host.attach(id, { replay: flags.replay, eofClosesInput: process.stdin.isTTY !== true });
        return attachTerminal(host, attachment, ctx, { detachKeys: keys });
      });
    });

  inOption(session.command('logs')
    .description('print what the session printed (its buffer); with -f keep following')
    .argument('<session>', 'id or name')
    .option('-f, --follow', 'keep printing new output until the session ends (Ctrl-C stops following)')
    .option('--tail <lines>', 'only the last N lines of the buffer'))
    .action(async (id: string, flags: WhereFlags & { follow?: boolean; tail?: string }) => {
      const tail = flags.tail === undefined ? undefined : Number(flags.tail);
      if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new UsageError(`invalid --tail "${flags.tail}"`, { suggestion: 'a number of lines' });
      const r = await reach(flags, ctx);
      await r.run(async host => {
        const { printLogs } = await import('../session-attach.ts');
        await printLogs(host, id, ctx, { follow: flags.follow === true, ...(tail === undefined ? {} : { tail }) });
      });
    });

  inOption(session.command('detach')
    .description('detach every client attached to the session (through this mount); the session keeps running')
    .argument('<session>', 'id or name'))
    .action(async (id: string, flags: WhereFlags) => {
      const r = await reach(flags, ctx);
      if (r.detachAll === undefined) {
        throw new UsageError('session detach works inside a mount (or with --in <mountpoint>)', { suggestion: 'attachments made with --in <dest> end when their terminal does' });
      }
      const n = await r.detachAll(id);
      ctx.stdout.write(`detached ${n} client${n === 1 ? '' : 's'}\n`);
    });

  inOption(session.command('kill')
    .description('send a signal to the session\'s command (default TERM)')
    .argument('<session>', 'id or name')
    .option('-s, --signal <sig>', 'TERM, KILL, INT, HUP, … (with or without SIG) or a number', 'TERM')
    .option('--group', 'signal the whole process group (the command and its children)'))
    .action(async (id: string, flags: WhereFlags & { signal: string; group?: boolean }) => {
      const r = await reach(flags, ctx);
      await r.run(host => host.kill(id, flags.signal, flags.group === true));
    });

  inOption(session.command('rm')
    .description('remove a session and its output (a running one only with --force, which kills it)')
    .argument('[session]', 'id or name')
    .option('-f, --force', 'kill a running session first')
    .option('--exited', 'remove every session that has ended'))
    .action(async (id: string | undefined, flags: WhereFlags & { force?: boolean; exited?: boolean }) => {
      if ((id === undefined) === (flags.exited !== true)) throw new UsageError('session rm needs a session or --exited (not both)', { suggestion: 'rmount session rm <id|name> | rmount session rm --exited' });
      const r = await reach(flags, ctx);
      const removed = await r.run(host => (id === undefined ? host.removeExited() : host.remove(id, flags.force === true)));
      for (const x of removed) ctx.stdout.write(`${x}\n`);
    });
}
