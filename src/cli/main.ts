import { Command, CommanderError } from 'commander';
import { registerAgent } from './commands/agent.ts';
import { registerCache } from './commands/cache.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerExec } from './commands/exec.ts';
import { registerLs } from './commands/ls.ts';
import { registerMount } from './commands/mount.ts';
import { registerStatus } from './commands/status.ts';
import { registerStubs } from './commands/stubs.ts';
import { registerSync } from './commands/sync.ts';
import { registerUnmount } from './commands/unmount.ts';
import { registerPlatform } from './commands/platform.ts';
import { registerSession } from './commands/session.ts';
import { registerForward } from './commands/forward.ts';
import type { CliContext } from './context.ts';
import { exitCodeForError, renderError } from './errors.ts';
import { DESTINATION_FORMS } from '../remote/destination.ts';

/** Builds the command tree. */
export function buildProgram(ctx: CliContext): Command {
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
  registerMount(program, ctx);
  registerUnmount(program, ctx);
  registerStatus(program, ctx);
  registerSync(program, ctx);
  registerPlatform(program, ctx);
  registerExec(program, ctx);
  registerSession(program, ctx);
  registerForward(program, ctx);
  registerLs(program, ctx);
  registerStubs(program, ctx);
  registerCache(program, ctx);
  registerAgent(program, ctx);
  registerDoctor(program, ctx);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
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
