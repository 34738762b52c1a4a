/**
 * Data and workloads of bench/writeback.ts: the source tree it unpacks, the contents of the small
 * files and of the editor saves, what each row must leave on the server (a manifest), and the
 * checks of the server-side folder against it.
 *
 * The two workloads that are not a plain command run in a child process (killed by PID on a
 * deadline); the child times itself and prints `{"seconds":S,…}` as its last line:
 *
 *   node --import tsx bench/writeback-data.ts small-files <dir> <count>
 *   node --import tsx bench/writeback-data.ts saves <dir on the mount> <same dir on the server> <count>
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prng, sourceText } from './fs-workloads.ts';

/** What one path must be on the server once a row's data is there. */
export type Entry =
  | { kind: 'file'; size: number; sha256: string }
  | { kind: 'dir' }
  | { kind: 'link'; target: string }
  | { kind: 'absent' };
/** Relative path → what it must be. */
export type Manifest = Map<string, Entry>;

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const fileEntry = (text: string): Entry => ({ kind: 'file', size: Buffer.byteLength(text), sha256: sha256(text) });
const logUniform = (rand: () => number, lo: number, hi: number): number => Math.round(lo * Math.pow(hi / lo, rand()));

const EXTENSIONS = ['js', 'js', 'js', 'ts', 'json', 'md', 'd.ts', 'map', 'css', 'txt', 'c', 'h'];
const DIR_NAMES = ['src', 'lib', 'dist', 'test', 'docs', 'bin', 'util', 'internal', 'node_modules', 'types', 'core', 'esm', 'cjs', 'fixtures', 'api'];

/**
 * A source-like tree: `files` regular files in about files/10 folders (depth ≤ 7; parents and
 * files picked with a bias to the early folders, so fan-out varies from 1 to dozens), sizes 82 %
 * 1–20 KiB, 14 % 100 B–1 KiB, 4 % 100–400 KiB (log-uniform within each), source-like text, and
 * files/50 relative symlinks to files elsewhere in the tree. Returns the manifest of the tree.
 */
export function generateTree(root: string, files: number, seed = 11): { manifest: Manifest; dirs: number; links: number; bytes: number } {
  const rand = prng(seed);
  const manifest: Manifest = new Map();
  const dirs: { rel: string; depth: number }[] = [{ rel: '', depth: 0 }];
  mkdirSync(root, { recursive: true });
  const wanted = Math.max(1, Math.round(files / 10));
  while (dirs.length < wanted) {
    const parent = dirs[Math.floor(Math.pow(rand(), 2) * dirs.length)]!;
    if (parent.depth >= 7) continue;
    const rel = join(parent.rel, `${DIR_NAMES[Math.floor(rand() * DIR_NAMES.length)]}${dirs.length}`);
    mkdirSync(join(root, rel));
    manifest.set(rel, { kind: 'dir' });
    dirs.push({ rel, depth: parent.depth + 1 });
  }
  let bytes = 0;
  const made: string[] = [];
  for (let i = 0; i < files; i++) {
    const dir = dirs[Math.floor(Math.pow(rand(), 1.5) * dirs.length)]!;
    const r = rand();
    const size = r < 0.04 ? logUniform(rand, 100 * 1024, 400 * 1024) : r < 0.18 ? logUniform(rand, 100, 1024) : logUniform(rand, 1024, 20 * 1024);
    const rel = join(dir.rel, `file${i}.${EXTENSIONS[Math.floor(rand() * EXTENSIONS.length)]}`);
    const text = sourceText(rand, size, false);
    writeFileSync(join(root, rel), text);
    manifest.set(rel, fileEntry(text));
    made.push(rel);
    bytes += text.length;
  }
  const links = Math.round(files / 50);
  for (let i = 0; i < links; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const rel = join(dir.rel, `link${i}.js`);
    const target = relative(dir.rel, made[Math.floor(rand() * made.length)]!);
    symlinkSync(target, join(root, rel));
    manifest.set(rel, { kind: 'link', target });
  }
  return { manifest, dirs: dirs.length, links, bytes };
}

// ---------------------------------------------------------------------------------------------
// Small files and editor saves: contents any process can compute again

/** The content of small file `i`: 1–8 KiB of source-like text. */
export function smallFileText(i: number): string {
  const rand = prng(100_000 + i);
  return sourceText(rand, 1024 + Math.floor(rand() * 7 * 1024), false);
}

export const smallFileName = (i: number): string => `f${i}.txt`;

export function smallFilesManifest(count: number): Manifest {
  const m: Manifest = new Map();
  for (let i = 0; i < count; i++) m.set(smallFileName(i), fileEntry(smallFileText(i)));
  return m;
}

/** Files an editor-saves folder starts with; saves go round-robin over them. */
export const EDITOR_FILES = 20;
export const docName = (t: number): string => `doc${t}.ts`;
export const tmpName = (i: number): string => `.${docName(i % EDITOR_FILES)}.${i}.tmp`;
const docText = (t: number): string => sourceText(prng(200_000 + t), 2000 + (t * 397) % 8000, false);
/** The text save `i` writes (each differs from every other and from the starting text). */
export function saveText(i: number): string {
  const rand = prng(300_000 + i);
  return `// save ${i}\n${sourceText(rand, 2000 + Math.floor(rand() * 8000), false)}`;
}

/** Writes the folder saves start from, on the server side (untimed). */
export function prepareSaves(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let t = 0; t < EDITOR_FILES; t++) writeFileSync(join(dir, docName(t)), docText(t));
}

/** Each file holds its last save (or its starting text), and no temporary file is left. */
export function savesManifest(saves: number): Manifest {
  const m: Manifest = new Map();
  for (let t = 0; t < EDITOR_FILES; t++) m.set(docName(t), fileEntry(docText(t)));
  for (let i = 0; i < saves; i++) {
    m.set(docName(i % EDITOR_FILES), fileEntry(saveText(i)));
    m.set(tmpName(i), { kind: 'absent' });
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Server-side checks (the server is this machine: its folder is read directly, never through a mount)

/** Paths of `manifest` that are not yet as they must be under `root`, by kind, size and link target. */
export function notYet(root: string, manifest: Manifest, limit = Infinity): string[] {
  const out: string[] = [];
  for (const [rel, want] of manifest) {
    if (out.length >= limit) break;
    let ok: boolean;
    try {
      const st = lstatSync(join(root, rel));
      ok = want.kind === 'file' ? st.isFile() && st.size === want.size
        : want.kind === 'dir' ? st.isDirectory()
          : want.kind === 'link' ? st.isSymbolicLink() && readlinkSync(join(root, rel)) === want.target
            : false;
    } catch (error) {
      ok = want.kind === 'absent' && (error as NodeJS.ErrnoException).code === 'ENOENT';
    }
    if (!ok) out.push(rel);
  }
  return out;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files of `manifest` whose content under `root` differs (after the size check passed). */
export async function wrongContent(root: string, manifest: Manifest): Promise<string[]> {
  const out: string[] = [];
  for (const [rel, want] of manifest) {
    if (want.kind !== 'file') continue;
    const got = await sha256File(join(root, rel)).catch(() => '');
    if (got !== want.sha256) out.push(rel);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The child workloads (synchronous calls, one after another, as command-line tools and editors do)

/** Creates `count` files: open (exclusive), write the content, close. */
function smallFiles(dir: string, count: number): Record<string, number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const fd = openSync(join(dir, smallFileName(i)), 'wx', 0o644);
    writeSync(fd, smallFileText(i));
    closeSync(fd);
  }
  return { seconds: (performance.now() - start) / 1000 };
}

/**
 * `count` atomic saves as vim (backupcopy=no) and VS Code make them: stat the file, write the new
 * text to a temporary name in its folder, fsync, close, rename over the file. Right after fsync
 * the server-side temporary file, and right after the rename the server-side file, are read and
 * compared with what was saved; the clock is stopped while checking.
 */
function saves(dir: string, serverDir: string, count: number): Record<string, number> {
  let busy = 0;
  let atFsync = 0;
  let afterRename = 0;
  const onServer = (rel: string, text: Buffer): boolean => {
    try {
      return readFileSync(join(serverDir, rel)).equals(text);
    } catch {
      return false;
    }
  };
  for (let i = 0; i < count; i++) {
    const name = docName(i % EDITOR_FILES);
    const text = Buffer.from(saveText(i));
    let t = performance.now();
    statSync(join(dir, name));
    const fd = openSync(join(dir, tmpName(i)), 'wx', 0o644);
    writeSync(fd, text);
    fsyncSync(fd);
    busy += performance.now() - t;
    if (onServer(tmpName(i), text)) atFsync++;
    t = performance.now();
    closeSync(fd);
    renameSync(join(dir, tmpName(i)), join(dir, name));
    busy += performance.now() - t;
    if (onServer(name, text)) afterRename++;
  }
  return { seconds: busy / 1000, atFsync, afterRename };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [name, dir, ...rest] = process.argv.slice(2);
  const count = Number(rest.at(-1));
  let result: Record<string, number> | undefined;
  if (dir !== undefined && Number.isInteger(count) && count > 0) {
    if (name === 'small-files' && rest.length === 1) result = smallFiles(dir, count);
    else if (name === 'saves' && rest.length === 2) result = saves(dir, rest[0]!, count);
  }
  if (result === undefined) {
    process.stderr.write('usage: writeback-data.ts small-files <dir> <count> | saves <dir> <server dir> <count>\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
