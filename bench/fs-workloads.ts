/**
 * File-system workloads for bench/mount-workloads.ts, and the source-like tree they run on.
 *
 * The workloads that are not a plain command (`small-files`, `editor-saves`) run in a child
 * process so that a hang can be killed by PID; the child times itself (startup not counted) and
 * prints `{"seconds":S}` as its last line:
 *
 *   node --import tsx bench/fs-workloads.ts small-files <dir> <count>
 *   node --import tsx bench/fs-workloads.ts editor-saves <dir> <saves>
 *   node --import tsx bench/fs-workloads.ts missing-lookups <dir> <names>
 *
 * They use synchronous calls, one operation after another, as most command-line tools do.
 * `missing-lookups` times two passes and prints `{"seconds":[first,second]}`.
 */
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The string `grep -r` looks for; it is written into about 1 % of the tree's files. */
export const NEEDLE = 'RMOUNT_BENCH_NEEDLE_7f3a';

/** Files an editor-saves folder starts with; saves go round-robin over them. */
export const EDITOR_FILES = 20;

/** A small deterministic PRNG (mulberry32), so every run builds the same tree. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['const', 'return', 'function', 'import', 'export', 'if', 'else', 'for', 'while', 'await', 'async',
  'value', 'result', 'error', 'buffer', 'handle', 'request', 'response', 'options', 'config', 'index', 'length',
  'string', 'number', 'readFile', 'writeFile', 'parse', 'render', 'update', 'state', 'props', 'context', 'node',
  'path', 'stream', 'socket', 'timeout', 'retry', 'cache', 'entry', 'inode', 'mount', 'remote', 'local', 'true',
  'false', 'null', 'undefined', '=', '==', '===', '+', '-', '*', '(', ')', '{', '}', '[', ']', ';', ',', '.'];

/** Text that looks like source code, about `size` bytes. */
export function sourceText(rand: () => number, size: number, needle: boolean): string {
  const lines: string[] = [];
  let length = 0;
  let indent = 0;
  while (length < size) {
    const n = 2 + Math.floor(rand() * 10);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(rand() * WORDS.length)]!);
    if (rand() < 0.15) indent = Math.max(0, Math.min(4, indent + (rand() < 0.5 ? -1 : 1)));
    const line = `${'  '.repeat(indent)}${words.join(' ')}`;
    lines.push(line);
    length += line.length + 1;
  }
  if (needle) lines.splice(Math.floor(rand() * lines.length), 0, `// ${NEEDLE}`);
  return `${lines.join('\n')}\n`.slice(0, Math.max(size, 100));
}

/** A size between 100 B and 20 KB, log-uniform (most files small, a few large; mean about 3.7 KB). */
function fileSize(rand: () => number): number {
  return Math.round(100 * Math.pow(200, rand()));
}

const EXTENSIONS = ['ts', 'ts', 'ts', 'js', 'json', 'md', 'c', 'h', 'go', 'py', 'css', 'txt'];
const DIR_NAMES = ['src', 'lib', 'core', 'util', 'api', 'internal', 'cmd', 'pkg', 'test', 'docs', 'components',
  'models', 'views', 'server', 'client', 'common', 'types', 'fixtures', 'scripts', 'config'];

/**
 * Writes `files` files under `root` in nested folders (depth up to 5, about 14 files a folder on
 * average), sizes 100 B–20 KB, source-like text; about 1 % of files hold {@link NEEDLE}.
 */
export function generateTree(root: string, files: number, seed = 1): { dirs: number; bytes: number } {
  const rand = prng(seed);
  const dirs: { path: string; depth: number }[] = [{ path: root, depth: 0 }];
  mkdirSync(root, { recursive: true });
  const wanted = Math.max(1, Math.ceil(files / 14));
  while (dirs.length < wanted) {
    const parent = dirs[Math.floor(rand() * dirs.length)]!;
    if (parent.depth >= 5) continue;
    const path = join(parent.path, `${DIR_NAMES[Math.floor(rand() * DIR_NAMES.length)]}${dirs.length}`);
    mkdirSync(path);
    dirs.push({ path, depth: parent.depth + 1 });
  }
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    const ext = EXTENSIONS[Math.floor(rand() * EXTENSIONS.length)]!;
    const text = sourceText(rand, fileSize(rand), rand() < 0.01);
    writeFileSync(join(dir.path, `file${i}.${ext}`), text);
    bytes += Buffer.byteLength(text);
  }
  return { dirs: dirs.length, bytes };
}

export interface TreeCount { files: number; dirs: number; symlinks: number; bytes: number }

/** Files, folders (the root included) and symlinks below `root`, without following links; bytes of the regular files. */
export function countTree(root: string): TreeCount {
  const c: TreeCount = { files: 0, dirs: 1, symlinks: 0, bytes: 0 };
  const walk = (path: string): void => {
    for (const e of readdirSync(path, { withFileTypes: true })) {
      const p = join(path, e.name);
      if (e.isDirectory()) {
        c.dirs++;
        walk(p);
      } else if (e.isSymbolicLink()) {
        c.symlinks++;
      } else {
        c.files++;
        if (e.isFile()) c.bytes += lstatSync(p).size;
      }
    }
  };
  walk(root);
  return c;
}

/** Creates `count` files of 1–4 KB in `dir`, then reads each back and checks its length. */
export function smallFiles(dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  const rand = prng(42);
  const sizes: number[] = [];
  const chunk = Buffer.alloc(4096, 'x');
  for (let i = 0; i < count; i++) {
    const size = 1024 + Math.floor(rand() * 3072);
    sizes.push(size);
    const fd = openSync(join(dir, `f${i}.txt`), 'wx', 0o644);
    writeSync(fd, chunk, 0, size, 0);
    closeSync(fd);
  }
  for (let i = 0; i < count; i++) {
    const got = readFileSync(join(dir, `f${i}.txt`)).length;
    if (got !== sizes[i]) throw new Error(`f${i}.txt: read ${got} bytes, wrote ${sizes[i]}`);
  }
}

/** Makes the folder an editor-saves run starts from (done on the backing folder, untimed). */
export function prepareEditorFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rand = prng(7);
  for (let i = 0; i < EDITOR_FILES; i++) writeFileSync(join(dir, `doc${i}.ts`), sourceText(rand, 2000 + Math.floor(rand() * 8000), false));
}

/**
 * `saves` atomic saves as editors do them (vim's backupcopy=no, VS Code, JetBrains "safe write"):
 * stat the file, write the new text to a temporary name in the same folder, fsync, close, rename
 * over the original. Round-robin over the folder's files.
 */
export function editorSaves(dir: string, saves: number): void {
  const names = readdirSync(dir).filter(n => n.endsWith('.ts')).sort();
  if (names.length === 0) throw new Error(`${dir} has no files to save`);
  const rand = prng(9);
  for (let i = 0; i < saves; i++) {
    const name = names[i % names.length]!;
    const target = join(dir, name);
    statSync(target);
    const tmp = join(dir, `.${name}.${i}.tmp`);
    const fd = openSync(tmp, 'wx', 0o644);
    writeSync(fd, sourceText(rand, 2000 + Math.floor(rand() * 8000), false));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, target);
  }
  const left = readdirSync(dir).filter(n => n.endsWith('.tmp'));
  if (left.length > 0) throw new Error(`temporary files left after rename: ${left.slice(0, 3).join(', ')}`);
}

/**
 * Lists `dir` once, then lstats `count` names it does not hold, twice, as git and compilers probe
 * for files that are not there (.gitignore in every folder, headers along an include path).
 * Returns the seconds of each pass: the first can be answered from the listing, the second also
 * from names the first found missing.
 */
export function missingLookups(dir: string, count: number): [number, number] {
  const present = new Set(readdirSync(dir));
  const names = Array.from({ length: count }, (_, i) => `.rmount-bench-missing-${i}.h`);
  for (const name of names) if (present.has(name)) throw new Error(`${join(dir, name)} exists`);
  const pass = (): number => {
    const start = performance.now();
    for (const name of names) {
      try {
        lstatSync(join(dir, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      throw new Error(`${join(dir, name)} exists`);
    }
    return (performance.now() - start) / 1000;
  };
  const first = pass();
  return [first, pass()];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [name, dir, countText] = process.argv.slice(2);
  const count = Number(countText);
  if (dir === undefined || !Number.isInteger(count) || count <= 0) {
    process.stderr.write('usage: fs-workloads.ts small-files|editor-saves|missing-lookups <dir> <count>\n');
    process.exit(2);
  }
  const start = performance.now();
  if (name === 'small-files') smallFiles(dir, count);
  else if (name === 'editor-saves') editorSaves(dir, count);
  else if (name === 'missing-lookups') {
    process.stdout.write(`${JSON.stringify({ seconds: missingLookups(dir, count) })}\n`);
    process.exit(0);
  } else {
    process.stderr.write(`unknown workload ${name}\n`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - start) / 1000 })}\n`);
}
