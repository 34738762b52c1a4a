/**
 * Quoting for POSIX shells on the remote. Every argument is single-quoted, so spaces, quotes,
 * `$()`, globs and newlines reach the program unchanged; nothing is ever spliced unquoted.
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for a POSIX shell. */
export function quoteArg(arg: string): string {
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quotes an argv for a POSIX shell. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Renders the shell line that runs `argv` in `cwd` with `env` on a POSIX remote:
 * `cd DIR && exec env K=V argv…`. A `~`-relative cwd is expanded by the remote shell.
 */
export function renderCommand(argv: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): string {
  if (argv.length === 0) throw new TypeError('renderCommand: empty argv');
  const parts: string[] = [];
  if (options.cwd !== undefined && options.cwd !== '') parts.push(`cd ${quoteCwd(options.cwd)} && `);
  parts.push('exec ');
  const env = Object.entries(options.env ?? {});
  if (env.length > 0) {
    for (const [k] of env) if (!ENV_NAME.test(k)) throw new TypeError(`invalid environment variable name "${k}"`);
    parts.push(`env ${env.map(([k, v]) => quoteArg(`${k}=${v}`)).join(' ')} `);
  }
  parts.push(quoteArgv(argv));
  return parts.join('');
}

function quoteCwd(cwd: string): string {
  if (cwd === '~') return '~';
  if (cwd.startsWith('~/')) return `~/${quoteArg(cwd.slice(2))}`;
  return quoteArg(cwd);
}
