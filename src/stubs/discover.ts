import { posix } from 'node:path';
import type { Backend } from '../remote/backend.ts';
import { S_IFLNK, S_IFMT, S_IFREG, type FileStat } from '../remote/file-client.ts';
import { collectOutput } from '../remote/session-output.ts';

/** What discovery found: the remote PATH and the command names on it, each once, in PATH order. */
export interface Discovered {
  path: string[];
  commands: string[];
}

/** The remote's PATH as a command run through `backend.exec` sees it. */
export async function remotePath(backend: Backend): Promise<string[]> {
  const { stdout } = await collectOutput(await backend.exec(['sh', '-c', 'printf %s "$PATH"']));
  const dirs = stdout.toString('utf8').split(':').filter(d => d.startsWith('/'));
  return [...new Set(dirs)];
}

/**
 * Lists the executables on the remote PATH through the file client: every regular file, or
 * symlink to one, with an execute bit, in each PATH folder. Unreadable folders are skipped.
 */
export async function discoverCommands(backend: Backend): Promise<Discovered> {
  const [path, files] = await Promise.all([remotePath(backend), backend.files()]);
  const seen = new Set<string>();
  const commands: string[] = [];
  const listings = await Promise.all(path.map(dir => files.readdir(dir).catch(() => [])));
  for (const [i, entries] of listings.entries()) {
    const dir = path[i]!;
    const checks = entries.map(async (e): Promise<string | undefined> => {
      let st: FileStat = e.stat;
      if ((st.mode & S_IFMT) === S_IFLNK) st = await files.stat(posix.join(dir, e.name)).catch(() => st);
      return (st.mode & S_IFMT) === S_IFREG && (st.mode & 0o111) !== 0 ? e.name : undefined;
    });
    for (const name of (await Promise.all(checks)).filter((n): n is string => n !== undefined).sort()) {
      if (seen.has(name)) continue;
      seen.add(name);
      commands.push(name);
    }
  }
  return { path, commands };
}
