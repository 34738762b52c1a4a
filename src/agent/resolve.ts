/**
 * Which local binary to upload for a remote platform: rmount's own agent builds
 * (dist/agent/rmount-agent_<os>_<arch>[_<variant>]) and users' multi-platform builds laid out by
 * goreleaser (dist/artifacts.json, or dist/<name>_<os>_<arch>[_<suffix>]/ folders) or named by a
 * template such as ./bin/tool_{os}_{arch}.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { UnsupportedError } from '../remote/errors.ts';
import { formatPlatform, type PlatformInfo } from '../remote/platform.ts';

/** One local build for one platform. */
export interface AgentBuild {
  os: string;
  arch: string;
  /** 'v6'/'v7' (arm), 'v1'…'v4' (amd64 levels), other goreleaser suffixes as given; '' for none. */
  variant: string;
  /** Absolute path of the executable. */
  path: string;
}

/** Where rmount's own agent builds live (scripts/build-agent.sh writes them). */
export const DEFAULT_AGENT_DIST = resolve(import.meta.dirname, '../../dist/agent');

/** The builds used when none are named: $RMOUNT_AGENT_DIST, else {@link DEFAULT_AGENT_DIST}. */
export function defaultAgentDist(): string {
  return process.env.RMOUNT_AGENT_DIST || DEFAULT_AGENT_DIST;
}

/** GOOS words a goreleaser folder name may contain. */
const KNOWN_OS = new Set(['linux', 'darwin', 'windows', 'freebsd', 'openbsd', 'netbsd', 'dragonfly', 'solaris', 'illumos', 'aix', 'android', 'ios', 'plan9', 'js', 'wasip1']);

/** The file name of rmount's agent build for a platform. */
export function agentBuildName(p: Pick<PlatformInfo, 'os' | 'arch' | 'variant'>): string {
  return `rmount-agent_${p.os}_${p.arch}${p.variant ? `_${p.variant}` : ''}`;
}

/** 'v7' and '7' → 7; anything else → undefined. */
function level(variant: string): number | undefined {
  const m = /^v?(\d+)$/.exec(variant);
  return m ? Number(m[1]) : undefined;
}

/**
 * The build that runs on `platform`, or undefined. The same variant first; then, for numbered
 * variants (arm v5/v6/v7, amd64 v1–v4), the highest level not above the requested one (a v7
 * board runs v6 code, not the reverse). When the remote's variant is unknown, a build without
 * a variant, else the most compatible (lowest) level.
 */
export function pickBuild(platform: PlatformInfo, builds: readonly AgentBuild[]): AgentBuild | undefined {
  const same = builds.filter(b => b.os === platform.os && b.arch === platform.arch);
  if (same.length === 0) return undefined;
  const exact = same.find(b => b.variant === platform.variant);
  if (exact) return exact;
  const plain = same.find(b => b.variant === '');
  const numbered = same.filter(b => level(b.variant) !== undefined).sort((a, b) => level(a.variant)! - level(b.variant)!);
  const want = level(platform.variant);
  if (want !== undefined) {
    const below = numbered.filter(b => level(b.variant)! <= want);
    return below.at(-1) ?? plain;
  }
  if (platform.variant !== '') return plain;
  return plain ?? numbered[0] ?? (same.length === 1 ? same[0] : undefined);
}

/** The builds in rmount's own dist layout (`<prefix>_<os>_<arch>[_<variant>]` files). */
export function listDistBuilds(dir: string, prefix = 'rmount-agent'): AgentBuild[] {
  if (!existsSync(dir)) return [];
  const out: AgentBuild[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${prefix}_`) || name.endsWith('.tmp')) continue;
    const [os = '', arch = '', variant = ''] = name.slice(prefix.length + 1).split('_');
    if (!os || !arch) continue;
    out.push({ os, arch, variant, path: join(dir, name) });
  }
  return out;
}

interface GoreleaserArtifact {
  name?: string;
  path?: string;
  goos?: string;
  goarch?: string;
  goarm?: string;
  goamd64?: string;
  go386?: string;
  goarm64?: string;
  gomips?: string;
  type?: string;
}

/** Binaries listed in a goreleaser `dist/artifacts.json` (paths there are relative to the project). */
export function listGoreleaserArtifacts(distDir: string): AgentBuild[] {
  const file = join(distDir, 'artifacts.json');
  const list = JSON.parse(readFileSync(file, 'utf8')) as GoreleaserArtifact[];
  const out: AgentBuild[] = [];
  for (const a of list) {
    if (a.type !== 'Binary' || !a.goos || !a.goarch || !a.path) continue;
    const raw = a.goarm ?? a.goamd64 ?? a.goarm64 ?? a.go386 ?? a.gomips ?? '';
    const variant = /^\d+$/.test(raw) ? `v${raw}` : raw;
    const candidates = isAbsolute(a.path) ? [a.path] : [resolve(dirname(distDir), a.path), resolve(distDir, a.path)];
    const path = candidates.find(p => existsSync(p)) ?? candidates[0]!;
    out.push({ os: a.goos, arch: a.goarch, variant, path });
  }
  return out;
}

/** Builds in goreleaser's folder layout: `<name>_<os>_<arch>[_<suffix>]/<binary>`. */
export function listGoreleaserFolders(distDir: string): AgentBuild[] {
  const out: AgentBuild[] = [];
  for (const entry of readdirSync(distDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const parts = entry.name.split('_');
    const i = parts.findIndex((p, k) => k > 0 && KNOWN_OS.has(p));
    if (i < 0 || i + 1 >= parts.length) continue;
    const name = parts.slice(0, i).join('_');
    const os = parts[i]!;
    const arch = parts[i + 1]!;
    const suffix = parts.slice(i + 2).join('_');
    const variant = /^\d+$/.test(suffix) ? `v${suffix}` : suffix;
    const folder = join(distDir, entry.name);
    const files = readdirSync(folder).filter(f => statSync(join(folder, f)).isFile());
    const binary = files.find(f => f === name || f === `${name}.exe`) ?? (files.length === 1 ? files[0] : undefined);
    if (binary === undefined) continue;
    out.push({ os, arch, variant, path: join(folder, binary) });
  }
  return out;
}

/** Expands `{os}`, `{arch}`, `{variant}` (`v7` or ''), `{arm}` (`7` or '') in a template. */
export function expandTemplate(template: string, p: PlatformInfo): string {
  return template
    .replaceAll('{os}', p.os)
    .replaceAll('{arch}', p.arch)
    .replaceAll('{variant}', p.variant)
    .replaceAll('{arm}', p.variant.replace(/^v/, ''))
    .replaceAll('__', '_')
    .replace(/_(?=$|\.|\/)/, '');
}

/** The platforms a template may name for `p`, best first: arm v7 → v6 → v5, amd64 v3 → v2 → v1, then no variant; an unknown arm variant tries the most compatible first. */
function templateCandidates(p: PlatformInfo): PlatformInfo[] {
  const n = level(p.variant);
  const variants: string[] = [];
  if (n !== undefined) {
    for (let k = n; k >= (p.arch === 'arm' ? 5 : 1); k--) variants.push(`v${k}`);
    variants.push('');
  } else if (p.variant === '' && p.arch === 'arm') variants.push('', 'v5', 'v6', 'v7');
  else variants.push(p.variant, '');
  return [...new Set(variants)].map(variant => ({ ...p, variant }));
}

/** A resolved binary and how it was found. */
export interface ResolvedBinary extends AgentBuild {
  /** The platform asked for. */
  platform: PlatformInfo;
}

/**
 * Finds the binary for `platform` in `from`: a template (contains `{os}`), a goreleaser dist
 * folder (artifacts.json, else `<name>_<os>_<arch>[_<suffix>]` folders), or an rmount dist folder
 * (`rmount-agent_<os>_<arch>[_<variant>]`). Default: rmount's own builds.
 * @throws UnsupportedError naming the platform and the builds that exist.
 */
export function resolveBinary(platform: PlatformInfo, from: string = defaultAgentDist()): ResolvedBinary {
  let builds: AgentBuild[];
  if (from.includes('{')) {
    for (const candidate of templateCandidates(platform)) {
      const path = resolve(expandTemplate(from, candidate));
      if (existsSync(path) && statSync(path).isFile()) return { ...candidate, path, platform };
    }
    throw noBuild(platform, from, []);
  }
  if (!existsSync(from)) {
    throw new UnsupportedError(`no builds: ${from} does not exist`, {
      suggestion: from === DEFAULT_AGENT_DIST ? 'build the agent first: npm run build:agent' : 'give --from a goreleaser dist folder or a template like ./bin/tool_{os}_{arch}',
    });
  }
  if (existsSync(join(from, 'artifacts.json'))) builds = listGoreleaserArtifacts(from);
  else {
    builds = listDistBuilds(from);
    if (builds.length === 0) builds = listGoreleaserFolders(from);
  }
  const build = pickBuild(platform, builds);
  if (!build) throw noBuild(platform, from, builds);
  return { ...build, platform };
}

function noBuild(platform: PlatformInfo, from: string, builds: AgentBuild[]): UnsupportedError {
  const have = builds.map(b => formatPlatform(b)).sort();
  return new UnsupportedError(
    `no build for ${formatPlatform(platform)} in ${from}${have.length > 0 ? `; builds exist for ${have.join(', ')}` : ' (no builds found there)'}`,
    { suggestion: from.includes('{') ? `no file matches the template for ${formatPlatform(platform)}` : `build one for ${formatPlatform(platform)} (GOOS=${platform.os} GOARCH=${platform.arch})` },
  );
}

/** A short label for a resolved binary: `linux/arm/v6 (…/rmount-agent_linux_arm_v6)`. */
export function describeBuild(b: ResolvedBinary): string {
  return `${formatPlatform(b)} (${basename(b.path)})`;
}
