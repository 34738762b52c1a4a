import { Option, type Command } from 'commander';
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError, UsageError } from '../../remote/errors.ts';
import type { CliContext } from '../context.ts';

interface StubsFlags {
  dir: string;
  discover?: boolean;
  include?: string;
  exclude?: string;
  remove?: boolean;
  rewriteOutput?: boolean;
  runner?: string;
}

/** bin/rmount, which runs dist/ when built and the sources through tsx otherwise. */
const ENTRY = fileURLToPath(new URL('../../../bin/rmount', import.meta.url));

/** `rmount stubs <mountpoint> --dir DIR [cmd…]`: writes (or removes) shims that run commands on the remote. */
export function registerStubs(program: Command, ctx: CliContext): void {
  program.command('stubs')
    .description('write POSIX sh shims that run commands on the remote, in the folder matching the current one inside the mount')
    .argument('<mountpoint>', 'a mounted folder')
    .argument('[commands...]', 'command names to write shims for')
    .requiredOption('--dir <dir>', 'folder for the shims (put it on PATH)')
    .option('--discover', 'write a shim for every executable on the remote PATH')
    .option('--include <regexp>', 'with --discover: only names matching this')
    .option('--exclude <regexp>', 'with --discover: not names matching this')
    .option('--remove', 'delete the shims written for this mount (all, or the commands named)')
    .option('--rewrite-output', 'the shims map remote paths in the output back to local ones (file:line for editors)')
    .addOption(new Option('--runner <executable>', 'internal (tests): run this instead of node bin/rmount').hideHelp())
    .action(async (mountpointArg: string, commands: string[], flags: StubsFlags) => {
      const { runtimeDir, readRecord } = await import('../../mount/registry.ts');
      const { removeShims, writeShims } = await import('../../stubs/stub-dir.ts');
      const { validCommandName } = await import('../../stubs/render-shim.ts');
      const { canonicalMountpoint } = await import('../../system/mountinfo.ts');
      const mountpoint = await canonicalMountpoint(mountpointArg);
      const dir = resolve(flags.dir);
      if (flags.remove) {
        const report = await removeShims(dir, mountpoint, commands.length === 0 ? undefined : commands);
        for (const s of report.skipped) ctx.stderr.write(`rmount: left ${join(dir, s.name)}: ${s.reason}\n`);
        ctx.stdout.write(`removed ${report.removed.length} shim(s) from ${dir}\n`);
        return;
      }
      const record = await readRecord(await runtimeDir(ctx.env), mountpoint);
      if (record === undefined) throw new NotFoundError(`${mountpoint} is not an rmount mount`, { suggestion: 'rmount status lists the mounts' });
      const include = compile(flags.include, '--include');
      const exclude = compile(flags.exclude, '--exclude');
      const names = new Set(commands);
      if (flags.discover) {
        if (record.socket === undefined) throw new UsageError(`the mount on ${mountpoint} serves no control socket`, { suggestion: `remount it: rmount unmount ${mountpoint}` });
        const { connectControl } = await import('../../control/client.ts');
        const client = await connectControl(record.socket);
        try {
          const found = await client.request<{ commands: string[] }>('discover');
          for (const name of found.commands) {
            if (include !== undefined && !include.test(name)) continue;
            if (exclude !== undefined && exclude.test(name)) continue;
            names.add(name);
          }
        } finally {
          client.close();
        }
      }
      if (names.size === 0) throw new UsageError('stubs needs command names or --discover', { suggestion: 'rmount stubs <mountpoint> --dir .rmount/bin make go npm' });
      const bad = [...names].filter(n => !validCommandName(n));
      if (bad.length > 0 && !flags.discover) throw new UsageError(`invalid command name ${JSON.stringify(bad[0])}`, { suggestion: 'a name, without / or control characters' });
      const parent = await realpath(dirname(mountpoint)).catch(() => dirname(mountpoint));
      const physical = join(parent, basename(mountpoint));
      const report = await writeShims(dir, [...names].filter(validCommandName).map(command => ({
        command, mountpoint, physicalMountpoint: physical,
        launcher: flags.runner === undefined ? [process.execPath, ENTRY] : [resolve(flags.runner)],
        rewriteOutput: flags.rewriteOutput === true,
      })));
      for (const s of report.skipped) ctx.stderr.write(`rmount: left ${join(dir, s.name)}: ${s.reason}\n`);
      ctx.stdout.write(`wrote ${report.written.length} shim(s) to ${dir}; put it on PATH: export PATH="${dir}:$PATH"\n`);
    });
}

function compile(source: string | undefined, flag: string): RegExp | undefined {
  if (source === undefined) return undefined;
  try {
    return new RegExp(source);
  } catch (error) {
    throw new UsageError(`invalid ${flag} regular expression "${source}"`, { cause: error });
  }
}
