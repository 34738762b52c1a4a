import { UsageError } from './errors.ts';

/** Where a workspace lives. Pure data; `parseDestination` makes one from a string. */
export interface Destination {
  type: 'ssh' | 'docker' | 'compose' | 'local';
  /** SSH user; absent to use ~/.ssh/config or the local user. */
  user?: string;
  /** SSH host (IPv6 without brackets), container name/ID, or Compose project ('.' = current folder's). */
  host: string;
  port?: number;
  /** Compose service. */
  service?: string;
  /** Compose replica, 1-based. */
  sequence?: number;
  /** Remote path: absolute, `~` or `~/…` (home-relative); absent means the home/working folder. */
  path?: string;
  /** The string it was parsed from. */
  raw: string;
}

/** The accepted forms, for error messages and help. */
export const DESTINATION_FORMS = [
  '[user@]host:[path]             (scp/sshfs form, SSH)',
  '[user@]host                    (SSH, the remote home folder, as `ssh host` reads it)',
  'ssh://[user@]host[:port][/path] (/~/x is home-relative; [::1] for IPv6)',
  'docker://container[/path]',
  'compose://project/service[/N][/path] (project "." = this folder\'s Compose project)',
  'local:/abs/path',
] as const;

function bad(raw: string, why: string): UsageError {
  return new UsageError(`invalid destination "${raw}": ${why}`, {
    suggestion: `use one of:\n  ${DESTINATION_FORMS.join('\n  ')}`,
  });
}

const HOST_RE = /^[A-Za-z0-9_.%-]+$/;
const USER_RE = /^[^@:/\s]+$/;
const CONTAINER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const COMPOSE_NAME_RE = /^[a-z0-9][a-z0-9_-]*$/;
const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Parses a destination string. Throws UsageError (code ERR_USAGE) naming the accepted forms.
 * Examples: `user@host:src`, `ssh://[::1]:2222/~/x`, `docker://web/srv`, `compose://./api/2/app`.
 */
export function parseDestination(raw: string): Destination {
  const text = raw.trim();
  if (text === '') throw bad(raw, 'it is empty');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme) {
    const rest = text.slice(scheme[0].length);
    switch (scheme[1]!.toLowerCase()) {
      case 'ssh': return parseSshUrl(raw, rest);
      case 'docker': return parseDocker(raw, rest);
      case 'compose': return parseCompose(raw, rest);
      case 'local': case 'file': return parseLocal(raw, rest.startsWith('/') ? rest : `/${rest}`);
      default: throw bad(raw, `unknown scheme "${scheme[1]}://"`);
    }
  }
  if (text.startsWith('local:')) return parseLocal(raw, text.slice('local:'.length));
  return parseScp(raw, text);
}

function parseLocal(raw: string, path: string): Destination {
  if (path === '') throw bad(raw, 'local: needs a path');
  return { type: 'local', host: 'localhost', path: normalizeRemotePath(path), raw };
}

function splitUser(raw: string, authority: string): { user?: string; hostport: string } {
  const at = authority.lastIndexOf('@');
  if (at < 0) return { hostport: authority };
  const user = decodeURIComponent(authority.slice(0, at));
  if (!USER_RE.test(user)) throw bad(raw, `bad user "${user}"`);
  return { user, hostport: authority.slice(at + 1) };
}

function parsePort(raw: string, text: string): number {
  if (!/^\d+$/.test(text)) throw bad(raw, `bad port "${text}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw bad(raw, `port ${port} is out of range 1-65535`);
  return port;
}

function checkHost(raw: string, host: string): string {
  if (host === '') throw bad(raw, 'the host is empty');
  if (!HOST_RE.test(host)) throw bad(raw, `bad host "${host}"`);
  return host;
}

function parseSshUrl(raw: string, rest: string): Destination {
  const slash = rest.indexOf('/'); // no '/' can occur in the authority, IPv6 literals included
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const pathPart = slash < 0 ? '' : rest.slice(slash);
  const { user, hostport } = splitUser(raw, authority);
  let host: string;
  let port: number | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw bad(raw, 'unclosed "[" in the IPv6 address');
    host = hostport.slice(1, close);
    if (!/^[0-9A-Fa-f:.%a-z]+$/.test(host) || !host.includes(':')) throw bad(raw, `bad IPv6 address "${host}"`);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(raw, `unexpected "${after}" after the IPv6 address`);
      port = parsePort(raw, after.slice(1));
    }
  } else {
    const colon = hostport.lastIndexOf(':');
    if (colon >= 0) {
      host = checkHost(raw, hostport.slice(0, colon));
      port = parsePort(raw, hostport.slice(colon + 1));
    } else {
      host = checkHost(raw, hostport);
    }
  }
  if (host === '') throw bad(raw, 'the host is empty');
  const dest: Destination = { type: 'ssh', host, raw };
  if (user !== undefined) dest.user = user;
  if (port !== undefined) dest.port = port;
  const path = sshUrlPath(decodeURIComponent(pathPart));
  if (path !== undefined) dest.path = path;
  return dest;
}

function sshUrlPath(p: string): string | undefined {
  if (p === '' || p === '/') return p === '/' ? '/' : undefined;
  if (p === '/~') return '~';
  if (p.startsWith('/~/')) return normalizeRemotePath(p.slice(1));
  return normalizeRemotePath(p);
}

function parseScp(raw: string, text: string): Destination {
  // [user@]host:[path], with host possibly [v6]
  let colon: number;
  const at = text.indexOf('@');
  const hostStart = at >= 0 && (text.indexOf(':') < 0 || at < text.indexOf(':')) ? at + 1 : 0;
  if (text[hostStart] === '[') {
    const close = text.indexOf(']', hostStart);
    if (close < 0) throw bad(raw, 'unclosed "[" in the IPv6 address');
    colon = text.indexOf(':', close);
  } else {
    colon = text.indexOf(':', hostStart);
  }
  // No colon at all: a bare SSH destination, as `ssh host` reads it (the home folder).
  const authority = colon < 0 ? text : text.slice(0, colon);
  if (colon < 0 && /^\.+$/.test(authority)) throw bad(raw, `"${authority}" is a local folder, not a host`);
  const { user, hostport } = splitUser(raw, authority);
  let host = hostport;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else checkHost(raw, host);
  if (host === '') throw bad(raw, 'the host is empty');
  const dest: Destination = { type: 'ssh', host, raw };
  if (user !== undefined) dest.user = user;
  const p = colon < 0 ? '' : text.slice(colon + 1);
  if (p !== '') {
    // scp semantics: a relative path is relative to the home folder.
    dest.path = p.startsWith('/') || p === '~' || p.startsWith('~/') ? normalizeRemotePath(p) : normalizeRemotePath(`~/${p}`);
  }
  return dest;
}

function parseDocker(raw: string, rest: string): Destination {
  const slash = rest.indexOf('/');
  const name = slash < 0 ? rest : rest.slice(0, slash);
  if (name === '') throw bad(raw, 'the container name is empty');
  if (!CONTAINER_RE.test(name)) throw bad(raw, `bad container name "${name}"`);
  const dest: Destination = { type: 'docker', host: name, raw };
  const path = slash < 0 ? '' : rest.slice(slash);
  if (path !== '' && path !== '/') dest.path = containerPath(path);
  else if (path === '/') dest.path = '/';
  return dest;
}

function containerPath(p: string): string {
  if (p === '/~') return '~';
  if (p.startsWith('/~/')) return normalizeRemotePath(p.slice(1));
  return normalizeRemotePath(p);
}

function parseCompose(raw: string, rest: string): Destination {
  const segments = rest.split('/');
  const project = segments[0] ?? '';
  if (project === '') throw bad(raw, 'the Compose project is empty (use "." for this folder\'s project)');
  if (project !== '.' && !COMPOSE_NAME_RE.test(project)) throw bad(raw, `bad Compose project name "${project}"`);
  const service = segments[1] ?? '';
  if (service === '') throw bad(raw, 'a Compose destination needs a service: compose://project/service');
  if (!SERVICE_RE.test(service)) throw bad(raw, `bad Compose service name "${service}"`);
  const dest: Destination = { type: 'compose', host: project, service, raw };
  let i = 2;
  if (segments[i] !== undefined && /^\d+$/.test(segments[i]!)) {
    const n = Number(segments[i]);
    if (n < 1) throw bad(raw, 'replica numbers start at 1');
    dest.sequence = n;
    i++;
  }
  const path = segments.slice(i).join('/');
  if (path !== '') dest.path = containerPath(`/${path}`);
  return dest;
}

/** Collapses `//`, `.` and trailing slashes of a remote path; keeps `..` (the remote resolves it). */
export function normalizeRemotePath(p: string): string {
  const absolute = p.startsWith('/');
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    parts.push(seg);
  }
  const joined = parts.join('/');
  if (absolute) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Renders a destination back as a canonical string. */
export function formatDestination(d: Destination): string {
  switch (d.type) {
    case 'local': return `local:${d.path ?? '/'}`;
    case 'docker': return `docker://${d.host}${d.path === undefined ? '' : d.path.startsWith('/') ? d.path : `/${d.path}`}`;
    case 'compose': return `compose://${d.host}/${d.service}${d.sequence === undefined ? '' : `/${d.sequence}`}${d.path === undefined ? '' : d.path.startsWith('/') ? d.path : `/${d.path}`}`;
    case 'ssh': {
      const host = d.host.includes(':') ? `[${d.host}]` : d.host;
      const path = d.path === undefined ? '' : d.path.startsWith('/') ? d.path : `/${d.path}`;
      return `ssh://${d.user === undefined ? '' : `${d.user}@`}${host}${d.port === undefined ? '' : `:${d.port}`}${path}`;
    }
  }
}

/**
 * The Compose project name of a folder, normalised as Compose does: lower-case, only [a-z0-9_-],
 * starting with a letter or digit.
 */
export function composeProjectName(folderName: string): string {
  return folderName.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}
