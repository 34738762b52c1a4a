import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { KNOWN_EXCEPTIONS, LAYERS, PACKAGES, PROCESS_IO_LAYERS, ROOT_FILES } from '../src/layers.ts';
import { listTsFiles, scanImports, scanTree, type FoundImport } from './helpers/import-scan.ts';
import { checkLayers, layerOf, type LayerMap } from './helpers/layer-check.ts';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const MAP: LayerMap = { layers: LAYERS, rootFiles: ROOT_FILES, packages: PACKAGES, exceptions: KNOWN_EXCEPTIONS };

/** `process.argv`, `process.stdout`, `process.exit…` and `console.log`/`info` in a source, by line. */
function processIo(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const what = `${node.expression.text}.${node.name.text}`;
      if (/^process\.(argv|stdout|exit|exitCode)$|^console\.(log|info)$/.test(what)) {
        found.push(`${what} at line ${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('architecture: the layer map of src/layers.ts', () => {
  it('every import under src/ is an arrow the map allows', async () => {
    const problems = checkLayers(MAP, await scanTree(SRC));
    assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
  });

  it('only cli reads argv, writes stdout or sets exit codes', async () => {
    const problems: string[] = [];
    for (const file of await listTsFiles(SRC)) {
      const layer = layerOf(MAP, file);
      if (layer !== undefined && PROCESS_IO_LAYERS.includes(layer)) continue;
      for (const use of processIo(file, await readFile(join(SRC, file), 'utf8'))) problems.push(`src/${file}: ${use} (${layer} is not ${PROCESS_IO_LAYERS.join(', ')})`);
    }
    assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
  });

  it('the scanner reads static, re-exporting, dynamic and type-position imports, across lines', () => {
    const text = [
      "import {\n  a,\n} from './a.ts';",
      "export { b } from '../b.ts';",
      "export * from 'pkg/sub';",
      "const c = await import('./c.ts');",
      "let d: import('./d.ts').D;",
      "// import x from './comment.ts'",
      "const s = \"import y from './string.ts'\";",
    ].join('\n');
    assert.deepEqual(scanImports('x.ts', text).map(i => [i.kind, i.specifier]), [
      ['import', './a.ts'], ['export', '../b.ts'], ['export', 'pkg/sub'], ['dynamic', './c.ts'], ['type-query', './d.ts'],
    ]);
  });

  // The map must catch the arrows DESIGN.md forbids: each row adds one to a copy of the real tree.
  const FORBIDDEN: [string, string, FoundImport][] = [
    ['a VFS file imports the SFTP codec', 'workspacefs/open-file.ts', { specifier: '../sftp/sftp-client.ts', line: 1, kind: 'import' }],
    ['a VFS file imports a backend', 'workspacefs/handles.ts', { specifier: '../backends/ssh/backend.ts', line: 1, kind: 'import' }],
    ['a VFS file imports ssh2 lazily', 'workspacefs/handles.ts', { specifier: 'ssh2', line: 1, kind: 'dynamic' }],
    ['a VFS file imports the FUSE mount rather than the contract', 'workspacefs/handles.ts', { specifier: '../fuse/mount.ts', line: 1, kind: 'import' }],
    ['a backend imports the FUSE layer', 'backends/ssh/backend.ts', { specifier: '../../fuse/mount.ts', line: 1, kind: 'import' }],
    ['the codec imports ssh2', 'sftp/sftp-client.ts', { specifier: 'ssh2', line: 1, kind: 'import' }],
    ['the codec imports a backend', 'sftp/sftp-client.ts', { specifier: '../backends/open.ts', line: 1, kind: 'export' }],
    ['the Docker backend imports ssh2', 'backends/docker/backend.ts', { specifier: 'ssh2', line: 1, kind: 'import' }],
    ['the SSH backend imports dockerode', 'backends/ssh/backend.ts', { specifier: 'dockerode', line: 1, kind: 'dynamic' }],
    ['a contract imports a layer above it', 'remote/backend.ts', { specifier: '../mount/daemon.ts', line: 1, kind: 'type-query' }],
    ['the mount root imports the CLI', 'mount/daemon.ts', { specifier: '../cli/errors.ts', line: 1, kind: 'import' }],
    ['a layer imports an unknown package', 'mount/daemon.ts', { specifier: 'left-pad', line: 1, kind: 'import' }],
  ];
  for (const [what, file, imp] of FORBIDDEN) {
    it(`fails when ${what}, naming file, import and rule`, async () => {
      const tree = await scanTree(SRC);
      tree.set(file, [...(tree.get(file) ?? []), imp]);
      const problems = checkLayers(MAP, tree);
      const mine = problems.filter(p => p.startsWith(`src/${file}:1 ${imp.kind} '${imp.specifier}'`));
      assert.equal(mine.length, 1, problems.join('\n'));
      assert.match(mine[0]!, /rule: |not in the map/);
    });
  }

  it('fails when a known exception no longer occurs, so the list only shrinks', () => {
    const problems = checkLayers({ ...MAP, exceptions: [{ from: 'remote/errors.ts', to: 'mount/daemon.ts', until: 'never' }] }, new Map());
    assert.deepEqual(problems, ['src/layers.ts: the known exception remote/errors.ts → mount/daemon.ts no longer occurs; delete it']);
  });
});
