import { Command, CommanderError } from 'commander';
import type { CliContext } from './context.ts';
import { exitCodeForError, renderError } from './errors.ts';
import { DESTINATION_FORMS } from '../remote/destination.ts';

/** Declares one command (its arguments, options, help and action) on the program. */
type Register = (program: Command, ctx: CliContext) => void;

/** A command: the names it answers to, and the module that declares it, loaded only when needed. */
interface CommandEntry {
  readonly names: readonly string[];
  readonly load: () => Promise<Register>;
}

// In the order `--help` lists them. A run loads only the module of the command it runs, so that
// `rmount mount` and the stubs' `rmount exec` do not pay for every other command's imports.
const COMMANDS: readonly CommandEntry[] = [
  { names: ['mount'], load: async () => (await import('./commands/mount.ts')).registerMount },
  { names: ['unmount', 'umount'], load: async () => (await import('./commands/unmount.ts')).registerUnmount },
  { names: ['status'], load: async () => (await import('./commands/status.ts')).registerStatus },
  { names: ['sync'], load: async () => (await import('./commands/sync.ts')).registerSync },
  { names: ['platform'], load: async () => (await import('./commands/platform.ts')).registerPlatform },
  { names: ['exec'], load: async () => (await import('./commands/exec.ts')).registerExec },
  { names: ['session'], load: async () => (await import('./commands/session.ts')).registerSession },
  { names: ['forward'], load: async () => (await import('./commands/forward.ts')).registerForward },
  { names: ['ls'], load: async () => (await import('./commands/ls.ts')).registerLs },
  { names: ['stubs'], load: async () => (await import('./commands/stubs.ts')).registerStubs },
  { names: ['cache'], load: async () => (await import('./commands/cache.ts')).registerCache },
  { names: ['agent'], load: async () => (await import('./commands/agent.ts')).registerAgent },
  { names: ['doctor'], load: async () => (await import('./commands/doctor.ts')).registerDoctor },
];

/** Options of the program itself, which may come before the command's name. */
const GLOBAL_FLAGS = new Set(['--debug']);

/**
 * The one command `argv` runs, when it names a known one before anything else; undefined for
 * help, version, an unknown command or none, which need every command declared.
 */
export function commandFor(argv: readonly string[]): CommandEntry | undefined {
  for (const arg of argv) {
    if (GLOBAL_FLAGS.has(arg)) continue;
    if (arg.startsWith('-')) return undefined;
    return COMMANDS.find(c => c.names.includes(arg));
  }
  return undefined;
}

/** Builds the command tree: every command, or only `only` (the one a run needs). */
export async function buildProgram(ctx: CliContext, only?: CommandEntry): Promise<Command> {
  const program = new Command('rmount')
    .description('mount a remote workspace (SSH host, Docker container, Compose service or local folder) and run commands there')
    .version('0.1.0')
    .option('--debug', 'print stacks and causes of errors')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: s => ctx.stdout.write(s),
      writeErr: s => ctx.stderr.write(s),
    })
    .showSuggestionAfterError(true);
  program.addHelpText('after', `\nDestinations:\n${DESTINATION_FORMS.map(f => `  ${f}`).join('\n')}`);
  const registers = await Promise.all((only === undefined ? COMMANDS : [only]).map(c => c.load()));
  for (const register of registers) register(program, ctx);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const program = await buildProgram(ctx, commandFor(argv));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    ctx.stderr.write(`${renderError(error, program.opts().debug === true)}\n`);
    return exitCodeForError(error);
  }
}
