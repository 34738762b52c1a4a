import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** One module specifier found in a source file. */
export interface FoundImport {
  /** The specifier as written ('../remote/errors.ts', 'ssh2', 'node:fs'). */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
  /** How it was written: `import … from`, `export … from`, `import('…')` or a type-position `import('…')`. */
  kind: 'import' | 'export' | 'dynamic' | 'type-query';
}

/**
 * Every static import, re-export and dynamic `import()` of a TypeScript source, found by parsing
 * (so imports split over lines, and strings in comments, are read as the compiler reads them).
 */
export function scanImports(fileName: string, text: string): FoundImport[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: FoundImport[] = [];
  const add = (node: ts.Node, kind: FoundImport['kind']): void => {
    if (!ts.isStringLiteralLike(node)) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    found.push({ specifier: node.text, line, kind });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, 'import');
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) add(node.moduleSpecifier, 'export');
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined) {
      add(node.arguments[0], 'dynamic');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, 'type-query');
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every .ts file under `dir`, as paths relative to it with '/' separators, sorted. */
export async function listTsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
    }
  }
  return out.sort();
}

/** The imports of every .ts file under `dir`, keyed by path relative to it. */
export async function scanTree(dir: string): Promise<Map<string, FoundImport[]>> {
  const out = new Map<string, FoundImport[]>();
  for (const file of await listTsFiles(dir)) out.set(file, scanImports(file, await readFile(join(dir, file), 'utf8')));
  return out;
}
