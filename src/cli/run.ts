import type { CliContext } from './context.ts';
import { main } from './main.ts';

const ctx: CliContext = { stdout: process.stdout, stderr: process.stderr, env: process.env, exitCode: 0 };
const code = await main(process.argv.slice(2), ctx);
// Let pending stdout writes reach a pipe before leaving.
process.stdout.write('', () => process.exit(code));
