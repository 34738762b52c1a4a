import type { Command } from 'commander';
import { UsageError } from '../../remote/errors.ts';
import type { ForwardInfo } from '../../sessions/forwarder.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { withBackend, type ConnectFlags } from '../connect.ts';
import { findMountTarget } from '../mount-target.ts';

interface ForwardFlags extends ConnectFlags {
  in?: string;
  remote: string[];
  auto?: boolean;
}

/** One line per forward: id, where it listens, where it goes, and how it fares. */
export function formatForwards(list: readonly ForwardInfo[]): string {
  const rows = [['ID', 'LISTEN', 'TO', 'STATE', 'ACTIVE', 'TOTAL', 'FAILED', 'LAST ERROR']];
  for (const f of list) {
    rows.push([f.id, `${f.direction === 'local' ? 'local' : 'remote'} ${f.listen}`, `${f.direction === 'local' ? 'remote' : 'local'} ${f.target}${f.auto ? ' (auto)' : ''}`,
      f.state, String(f.active), String(f.connections), String(f.failures), f.lastError ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)));
  return rows.map(r => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const mapping = (f: ForwardInfo): string => `${f.id}  ${f.direction === 'local' ? 'local' : 'remote'} ${f.listen} → ${f.direction === 'local' ? 'remote' : 'local'} ${f.target}`;

async function controlFor(ctx: CliContext, inFlag: string | undefined): Promise<import('../../control/client.ts').ControlClient | undefined> {
  const target = await findMountTarget(ctx, inFlag, undefined);
  if (target === undefined) return undefined;
  const { connectControl } = await import('../../control/client.ts');
  return connectControl(target.socket);
}

/** `rmount forward …`. */
export function registerForward(program: Command, ctx: CliContext): void {
  const forward = program.command('forward')
    .description('forward ports over the mount\'s connection: local → remote as ssh -L, remote → local with -R, UNIX sockets on either side, --auto for every port the remote listens on');

  addConnectOptions(forward.command('add', { isDefault: true })
    .description('start forwards: inside a mount they belong to its daemon; with --in DEST they run until Ctrl-C')
    .usage('[--in <mountpoint|dest>] [BIND:]LPORT:RHOST:RPORT … [-R [BIND:]RPORT:LHOST:LPORT] [--auto]')
    .argument('[specs...]', 'local → remote: [BIND:]LPORT:RHOST:RPORT, LPORT:/remote.sock, ./local.sock:RHOST:RPORT (binds default to 127.0.0.1)')
    .option('--in <mountpoint|dest>', 'the mount (a local folder) or destination to forward through, instead of the mount holding the current folder')
    .option('-R, --remote <spec>', 'remote → local: [BIND:]RPORT:LHOST:LPORT or with socket paths (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--auto', 'forward every TCP port the remote listens on (looked at every 2 s) to the same local port, or the next free one'))
    .action(async (specs: string[], flags: ForwardFlags) => {
      if (specs.length === 0 && flags.remote.length === 0 && flags.auto !== true) {
        throw new UsageError('forward needs at least one spec, -R spec or --auto', { suggestion: 'rmount forward 8080:127.0.0.1:80   (see rmount forward add --help)' });
      }
      // Bad specs are the user's to fix before anything starts.
      const { parseForwardSpec } = await import('../../sessions/forward-spec.ts');
      for (const s of specs) parseForwardSpec(s, 'local');
      for (const s of flags.remote) parseForwardSpec(s, 'remote');
      const control = await controlFor(ctx, flags.in);
      if (control !== undefined) {
        try {
          const r = await control.request<{ forwards: ForwardInfo[] }>('forward-add', { local: specs, remote: flags.remote, auto: flags.auto === true });
          for (const f of r.forwards) ctx.stdout.write(`${mapping(f)}\n`);
          if (flags.auto === true) ctx.stdout.write('--auto: more come and go as the remote opens and closes ports (rmount forward ls)\n');
        } finally {
          control.close();
        }
        return;
      }
      if (flags.in === undefined) {
        throw new UsageError(`${process.cwd()} is not inside a mount`, { suggestion: 'run it inside a mount, or name one: rmount forward --in <mountpoint|dest> …' });
      }
      await withBackend(flags.in, flags, async backend => {
        const { openAgentHost } = await import('../../backends/agent-host.ts');
        const { ForwardSet, agentTransport, preferBackendDial } = await import('../../sessions/forward-set.ts');
        const host = await openAgentHost(backend);
        // In the foreground the log is the terminal: refused connections are worth seeing there.
        const say = (message: string): void => void ctx.stderr.write(`rmount: ${message}\n`);
        const log = { error: say, warn: say, info: say, debug: () => {} };
        const set = new ForwardSet(preferBackendDial(backend, agentTransport(() => Promise.resolve(host)), log), log);
        set.onChange = line => ctx.stdout.write(`${line}\n`);
        try {
          for (const s of specs) ctx.stdout.write(`${mapping(await set.add(s, 'local'))}\n`);
          for (const s of flags.remote) ctx.stdout.write(`${mapping(await set.add(s, 'remote'))}\n`);
          if (flags.auto === true) await set.startAuto();
          ctx.stderr.write('forwarding; Ctrl-C stops\n');
          await new Promise<void>(resolve => {
            const stop = (): void => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
            void host.closed.then(() => {
              ctx.stderr.write('the connection to the remote was lost\n');
              ctx.exitCode = 255;
              resolve();
            });
          });
        } finally {
          await set.close();
          host.close();
        }
      });
    });

  forward.command('ls')
    .description('list the forwards of the mount holding the current folder (or --in)')
    .option('--in <mountpoint>', 'the mount whose forwards to list')
    .option('--json', 'print as JSON')
    .action(async (flags: { in?: string; json?: boolean }) => {
      const control = await controlFor(ctx, flags.in);
      if (control === undefined) throw new UsageError('forward ls needs a mount', { suggestion: 'run it inside a mount, or name one with --in <mountpoint>' });
      try {
        const r = await control.request<{ auto: boolean; forwards: ForwardInfo[] }>('forward-ls');
        ctx.stdout.write(flags.json === true ? `${JSON.stringify(r, null, 2)}\n` : `${formatForwards(r.forwards)}${r.auto ? '\n--auto is on' : ''}\n`);
      } finally {
        control.close();
      }
    });

  forward.command('rm')
    .description('stop a forward (its id from forward ls), or every one with "all" (which also stops --auto)')
    .argument('<id|all>')
    .option('--in <mountpoint>', 'the mount whose forward to stop')
    .action(async (id: string, flags: { in?: string }) => {
      const control = await controlFor(ctx, flags.in);
      if (control === undefined) throw new UsageError('forward rm needs a mount', { suggestion: 'run it inside a mount, or name one with --in <mountpoint>' });
      try {
        const r = await control.request<{ removed: string[] }>('forward-rm', { id });
        for (const x of r.removed) ctx.stdout.write(`${x}\n`);
      } finally {
        control.close();
      }
    });
}
