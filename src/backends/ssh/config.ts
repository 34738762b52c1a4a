/**
 * ssh_config(5) resolution the way OpenSSH's ssh does it: files are parsed with the `ssh-config`
 * package, then evaluated here, top to bottom, first obtained value wins.
 *
 * The package's own `compute()` is not used: it matches `?` as "zero or one character", matches
 * host patterns case-sensitively, runs `Match exec` commands, and knows nothing of `Include`.
 * OpenSSH lower-cases the host, treats `?` as exactly one character, and expands an `Include`
 * in place with the enclosing block's active state (readconf.c), which is what this module does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import SSHConfig, { LineType, type Line } from 'ssh-config';

/** StrictHostKeyChecking values, normalised ('off' → 'no', 'true' → 'yes'). */
export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';

/** One ProxyJump hop as written (`[user@]host[:port]` or `ssh://[user@]host[:port]`). */
export interface JumpHop {
  host: string;
  user?: string;
  port?: number;
}

/** What to resolve: the host as the user typed it, plus what the command line fixed. */
export interface SshConfigQuery {
  /** The host argument (an alias or a name); patterns match against it, lower-cased. */
  host: string;
  /** A user from the destination (`user@host`): beats the config, as on ssh's command line. */
  user?: string;
  /** A port from the destination: beats the config. */
  port?: number;
  /** The user config (ssh -F); default `<homeDir>/.ssh/config`. A missing file is no error. */
  configFile?: string;
  /** A system-wide config read after the user's (OpenSSH: /etc/ssh/ssh_config); none when absent. */
  systemConfigFile?: string;
  /** The local home folder, for `~` and `%d`. */
  homeDir: string;
  /** The local user name, for `%u` and the default remote user. */
  localUser: string;
  /** The local host name for `%l`; default os.hostname(). */
  localHostname?: string;
  /** The local uid for `%i`; default process.getuid(). */
  localUid?: number;
}

/** The settings rmount uses, resolved and token-expanded. */
export interface SshHostConfig {
  /** The host argument, as given. */
  host: string;
  /** Where to connect (HostName, `%h` expanded), default the host argument. */
  hostName: string;
  user: string;
  port: number;
  /** IdentityFile entries in order, `~` and tokens expanded; empty when the config names none. */
  identityFiles: string[];
  /** IdentitiesOnly: use only the identity files, not every key the agent offers. */
  identitiesOnly: boolean;
  /** IdentityAgent: a socket path, 'SSH_AUTH_SOCK' (the default) or 'none'. */
  identityAgent: string;
  /** ProxyJump hops, first hop first; empty for none. */
  proxyJump: JumpHop[];
  /** UserKnownHostsFile entries, expanded; default ~/.ssh/known_hosts and ~/.ssh/known_hosts2. */
  userKnownHostsFiles: string[];
  /** GlobalKnownHostsFile entries, read-only, checked after the user's; default /etc/ssh/ssh_known_hosts{,2}. */
  globalKnownHostsFiles: string[];
  /** HostKeyAlias: the name host keys are looked up and recorded under instead of host/[host]:port. */
  hostKeyAlias: string | undefined;
  strictHostKeyChecking: StrictHostKeyChecking;
  /** ServerAliveInterval in seconds; 0 = off; undefined when unset (the backend then picks 15). */
  serverAliveInterval: number | undefined;
  /** ServerAliveCountMax; default 3. */
  serverAliveCountMax: number;
  /** ConnectTimeout in seconds; undefined when unset. */
  connectTimeout: number | undefined;
  /** BatchMode: never prompt. */
  batchMode: boolean;
}

/** Settings that collect every obtained value instead of keeping the first. */
const MULTI = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv', 'setenv']);
const MAX_INCLUDE_DEPTH = 16;
/** OpenSSH's default GlobalKnownHostsFile. */
export const DEFAULT_GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'] as const;

/** Resolves the settings for one host from the user's (and optionally the system's) ssh_config. */
export function resolveSshConfig(query: SshConfigQuery): SshHostConfig {
  const host = query.host;
  const state: EvalState = {
    originalHost: host.toLowerCase(),
    localUser: query.localUser,
    values: new Map(),
    homeDir: query.homeDir,
  };
  // Command-line values are obtained first, so they win over every file.
  if (query.user !== undefined) state.values.set('user', [query.user]);
  if (query.port !== undefined) state.values.set('port', [String(query.port)]);

  const userConfig = query.configFile ?? join(query.homeDir, '.ssh', 'config');
  evaluateFile(state, userConfig, join(query.homeDir, '.ssh'), { active: true }, 0);
  if (query.systemConfigFile !== undefined) {
    evaluateFile(state, query.systemConfigFile, dirname(query.systemConfigFile), { active: true }, 0);
  }

  const first = (key: string): string | undefined => state.values.get(key)?.[0];
  // ssh lower-cases the host argument before use; %n keeps it as typed.
  const hostName = expandTokens(first('hostname') ?? '%h', { '%': '%', h: host.toLowerCase() });
  const user = first('user') ?? query.localUser;
  const port = parsePort(first('port')) ?? 22;
  const tokens: Record<string, string> = {
    '%': '%',
    d: query.homeDir,
    u: query.localUser,
    h: hostName,
    r: user,
    p: String(port),
    n: host,
    l: query.localHostname ?? hostname(),
    i: String(query.localUid ?? process.getuid?.() ?? 0),
  };
  const path = (p: string): string => expandTilde(expandTokens(p, tokens), query.homeDir);

  const knownHosts = state.values.get('userknownhostsfile') ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
  const globalKnownHosts = state.values.get('globalknownhostsfile') ?? [...DEFAULT_GLOBAL_KNOWN_HOSTS];
  const alias = first('hostkeyalias');
  const jump = first('proxyjump');
  return {
    host,
    hostName,
    user,
    port,
    identityFiles: (state.values.get('identityfile') ?? []).map(path),
    identitiesOnly: yes(first('identitiesonly')),
    identityAgent: ((a: string | undefined) => (a === undefined || a === 'SSH_AUTH_SOCK' || a === 'none' ? a ?? 'SSH_AUTH_SOCK' : path(a)))(first('identityagent')),
    proxyJump: jump === undefined || jump.toLowerCase() === 'none' ? [] : parseProxyJump(jump),
    userKnownHostsFiles: knownHosts.filter(f => f.toLowerCase() !== 'none').map(path),
    globalKnownHostsFiles: globalKnownHosts.filter(f => f.toLowerCase() !== 'none').map(path),
    // ssh lower-cases the alias, like the host name it stands for.
    hostKeyAlias: alias === undefined || alias.toLowerCase() === 'none' ? undefined : alias.toLowerCase(),
    strictHostKeyChecking: parseStrict(first('stricthostkeychecking')),
    serverAliveInterval: parseSeconds(first('serveraliveinterval')),
    serverAliveCountMax: parseSeconds(first('serveralivecountmax')) ?? 3,
    connectTimeout: parseSeconds(first('connecttimeout')),
    batchMode: yes(first('batchmode')),
  };
}

interface EvalState {
  originalHost: string;
  localUser: string;
  homeDir: string;
  /** Lower-cased option name → obtained values (one, or several for MULTI options). */
  values: Map<string, string[]>;
}

function evaluateFile(state: EvalState, file: string, includeBase: string, block: { active: boolean }, depth: number): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    // OpenSSH ignores a missing user config and missing Include targets.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  evaluateLines(state, SSHConfig.parse(text), includeBase, block, depth);
}

function evaluateLines(state: EvalState, lines: readonly Line[], includeBase: string, block: { active: boolean }, depth: number): void {
  for (const line of lines) {
    if (line.type !== LineType.DIRECTIVE) continue;
    const param = line.param.toLowerCase();
    if (param === 'host' || param === 'match') {
      block.active = param === 'host' ? hostLineMatches(values(line.value), state.originalHost) : matchLineMatches(values(line.value), state);
      // The package nests a block's lines under it; they are evaluated in order, like a flat file.
      if ('config' in line) evaluateLines(state, line.config, includeBase, block, depth);
      continue;
    }
    if (param === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) throw new Error(`ssh config: Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
      const wasActive = block.active;
      for (const pattern of values(line.value)) {
        for (const file of globFiles(expandTilde(pattern, state.homeDir), includeBase)) {
          // An included file starts in the enclosing block's state; its Host lines only last
          // until its end (readconf.c restores the state after the Include).
          const inner = { active: wasActive };
          if (wasActive) evaluateFile(state, file, includeBase, inner, depth + 1);
        }
      }
      block.active = wasActive;
      continue;
    }
    if (!block.active) continue;
    const vals = values(line.value);
    if (vals.length === 0) continue;
    if (MULTI.has(param)) {
      const list = state.values.get(param) ?? [];
      list.push(...(param === 'identityfile' || param === 'certificatefile' ? [vals.join(' ')] : vals));
      state.values.set(param, list);
    } else if (!state.values.has(param)) {
      state.values.set(param, param === 'userknownhostsfile' || param === 'globalknownhostsfile' ? vals : [vals.join(' ')]);
    }
  }
}

function values(value: string | { val: string }[]): string[] {
  if (Array.isArray(value)) return value.map(v => v.val);
  return value === '' ? [] : [value];
}

/** True when a `Host` line's patterns select `host`: one positive match and no negated one. */
export function hostLineMatches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const raw of patterns) {
    for (const pattern of raw.split(/\s+/).filter(Boolean)) {
      const negated = pattern.startsWith('!');
      if (matchPattern(host.toLowerCase(), (negated ? pattern.slice(1) : pattern).toLowerCase())) {
        if (negated) return false;
        matched = true;
      }
    }
  }
  return matched;
}

/** OpenSSH's comma-separated pattern list (match_pattern_list): a negated hit vetoes. */
export function matchPatternList(text: string, list: string): boolean {
  let matched = false;
  for (const pattern of list.split(',')) {
    const negated = pattern.startsWith('!');
    if (matchPattern(text, negated ? pattern.slice(1) : pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH's match_pattern: `*` any run, `?` exactly one character, everything else literal. */
export function matchPattern(text: string, pattern: string): boolean {
  let re = '^';
  for (const ch of pattern) re += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return new RegExp(`${re}$`, 's').test(text);
}

// Match criteria rmount can decide without side effects; anything else (exec, canonical, final,
// tagged) never matches, so a config never runs commands on rmount's behalf.
function matchLineMatches(words: readonly string[], state: EvalState): boolean {
  const list = words.flatMap(w => w.split(/\s+/)).filter(Boolean);
  for (let i = 0; i < list.length; i++) {
    const criterion = list[i]!.toLowerCase();
    if (criterion === 'all') continue;
    const arg = list[++i];
    if (arg === undefined) return false;
    const user = state.values.get('user')?.[0] ?? state.localUser;
    switch (criterion) {
      case 'host': case 'originalhost':
        if (!matchPatternList(state.originalHost, arg.toLowerCase())) return false;
        break;
      case 'user':
        if (!matchPatternList(user, arg)) return false;
        break;
      case 'localuser':
        if (!matchPatternList(state.localUser, arg)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Files an Include pattern names, sorted, wildcards in the last component only. */
function globFiles(pattern: string, base: string): string[] {
  const full = isAbsolute(pattern) ? pattern : join(base, pattern);
  const dir = dirname(full);
  const name = full.slice(dir.length + 1);
  if (!/[*?]/.test(name)) return [full];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter(e => !e.startsWith('.') && matchPattern(e, name)).sort().map(e => join(dir, e));
}

/** Expands `%x` tokens from `tokens` (key without the `%`); an unknown token is an error. */
export function expandTokens(text: string, tokens: Record<string, string>): string {
  return text.replace(/%(.)/g, (whole, key: string) => {
    const value = tokens[key];
    if (value === undefined) throw new Error(`ssh config: unknown token "${whole}" in "${text}"`);
    return value;
  });
}

/** Expands a leading `~` or `~/` to `home` (not `~user`). */
export function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/** Parses a ProxyJump value: comma-separated `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export function parseProxyJump(value: string): JumpHop[] {
  return value.split(',').map(s => s.trim()).filter(Boolean).map(parseHop);
}

function parseHop(text: string): JumpHop {
  let rest = text.startsWith('ssh://') ? text.slice('ssh://'.length).replace(/\/$/, '') : text;
  const hop: JumpHop = { host: '' };
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    hop.user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6) {
    hop.host = v6[1]!;
    if (v6[2] !== undefined) hop.port = Number(v6[2]);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0 && /^\d+$/.test(rest.slice(colon + 1))) {
      hop.host = rest.slice(0, colon);
      hop.port = Number(rest.slice(colon + 1));
    } else {
      hop.host = rest;
    }
  }
  if (hop.host === '') throw new Error(`ssh config: bad ProxyJump hop "${text}"`);
  return hop;
}

function yes(value: string | undefined): boolean {
  return value !== undefined && ['yes', 'true'].includes(value.toLowerCase());
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function parseSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function parseStrict(value: string | undefined): StrictHostKeyChecking {
  switch (value?.toLowerCase()) {
    case 'no': case 'off': case 'false': return 'no';
    case 'accept-new': return 'accept-new';
    case 'ask': return 'ask';
    case undefined: return 'ask';
    default: return 'yes';
  }
}
