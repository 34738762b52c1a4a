import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Skips with a reason, never silently. Under RMOUNT_TEST_REQUIRE=all (CI) a reason is a failure:
 * the suite throws at load time so the missing part is named in the output.
 */
export function requirePart(reason: string | false): string | false {
  if (reason === false) return false;
  const require = process.env.RMOUNT_TEST_REQUIRE ?? '';
  if (require === 'all' || require.split(',').some(part => reason.includes(part))) {
    throw new Error(`required test part missing: ${reason} (RMOUNT_TEST_REQUIRE=${require})`);
  }
  return reason;
}

/** Absolute path of an executable on PATH (or in the sbin folders), or undefined. */
export function which(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/lib/openssh']) {
    if (dir !== '' && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
