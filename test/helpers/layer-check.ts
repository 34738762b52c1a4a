import { posix } from 'node:path';
import type { KnownException, LayerRule } from '../../src/layers.ts';
import type { FoundImport } from './import-scan.ts';

/** The map as test/architecture.test.ts checks it (src/layers.ts, or a variant in a test). */
export interface LayerMap {
  layers: Readonly<Record<string, LayerRule>>;
  rootFiles: readonly string[];
  packages: Readonly<Record<string, readonly string[]>>;
  exceptions: readonly KnownException[];
}

/** The layer a file under src/ belongs to: the longest key its folder starts with. */
export function layerOf(map: LayerMap, file: string): string | undefined {
  if (map.rootFiles.includes(file)) return '.';
  const dir = posix.dirname(file);
  let best: string | undefined;
  for (const key of Object.keys(map.layers)) {
    if ((dir === key || dir.startsWith(`${key}/`)) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function rule(map: LayerMap, layer: string): string {
  const allowed = map.layers[layer]?.imports ?? [];
  return `rule: ${layer} → ${allowed.length === 0 ? 'nothing' : allowed.join(', ')}`;
}

/**
 * Every arrow of `imports` (file under src/ → its imports) that `map` does not allow, one line
 * each naming file, import and rule; also exceptions that no longer occur and layers that name
 * unknown targets. Empty when the tree keeps to the map.
 */
export function checkLayers(map: LayerMap, imports: ReadonlyMap<string, readonly FoundImport[]>): string[] {
  const problems: string[] = [];
  const used = new Set<KnownException>();
  for (const [layer, r] of Object.entries(map.layers)) {
    for (const target of r.imports) {
      const known = target.endsWith('.ts') ? layerOf(map, target) !== undefined : target in map.layers;
      if (!known) problems.push(`src/layers.ts: ${layer} may import "${target}", which is no layer of the map`);
    }
  }
  const tolerated = (from: string, to: string): boolean => {
    const e = map.exceptions.find(x => x.from === from && x.to === to);
    if (e !== undefined) used.add(e);
    return e !== undefined;
  };
  for (const [file, found] of imports) {
    const from = layerOf(map, file);
    if (from === undefined) {
      problems.push(`src/${file}: in no layer of src/layers.ts (add its folder to the map)`);
      continue;
    }
    for (const imp of found) {
      const where = `src/${file}:${imp.line} ${imp.kind} '${imp.specifier}'`;
      if (imp.specifier.startsWith('node:')) continue;
      if (!imp.specifier.startsWith('.')) {
        const name = packageName(imp.specifier);
        const allowed = map.packages[name];
        if (allowed === undefined) {
          if (!tolerated(file, name)) problems.push(`${where}: package ${name} is not in the map (PACKAGES in src/layers.ts)`);
        } else if (!allowed.includes(from) && !tolerated(file, name)) {
          problems.push(`${where}: ${from} may not import ${name} — rule: ${name} only in ${allowed.join(', ')}`);
        }
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(file), imp.specifier));
      if (target.startsWith('../')) {
        if (!tolerated(file, target)) problems.push(`${where}: leaves src/`);
        continue;
      }
      const to = layerOf(map, target);
      if (to === from) continue;
      const allowed = from === '.' ? [] : map.layers[from]!.imports;
      if (to !== undefined && (allowed.includes(to) || allowed.includes(target))) continue;
      if (tolerated(file, target)) continue;
      problems.push(`${where}: ${from} may not import ${to ?? target} (${target}) — ${rule(map, from)}`);
    }
  }
  for (const e of map.exceptions) {
    if (!used.has(e)) problems.push(`src/layers.ts: the known exception ${e.from} → ${e.to} no longer occurs; delete it`);
  }
  return problems;
}
