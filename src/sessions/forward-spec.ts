/**
 * Port-forward specs as ssh spells them, plus UNIX socket paths on either side:
 *   local  (-L): [BIND:]LPORT:RHOST:RPORT, [BIND:]LPORT:RSOCK, LSOCK:RHOST:RPORT, LSOCK:RSOCK
 *   remote (-R): [BIND:]RPORT:LHOST:LPORT, [BIND:]RPORT:LSOCK, RSOCK:LHOST:LPORT, RSOCK:LSOCK
 * A part holding a `/` is a socket path; an IPv6 address goes in brackets. Binds default to
 * 127.0.0.1, never every interface unless asked (`0.0.0.0:8080:…`, `*:8080:…`).
 */
import { UsageError } from '../remote/errors.ts';

/** One end of a forward. */
export type Endpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/** A parsed forward. `listen` accepts connections; each is joined to a new one to `target`. */
export interface ForwardSpec {
  /** local: listen here, connect on the remote (ssh -L); remote: the reverse (ssh -R). */
  direction: 'local' | 'remote';
  listen: Endpoint;
  target: Endpoint;
  /** As written. */
  text: string;
}

const FORMS = 'forms: [BIND:]LPORT:RHOST:RPORT, [BIND:]LPORT:/remote.sock, ./local.sock:RHOST:RPORT, ./local.sock:/remote.sock (-R: the same with remote and local swapped)';

/** Splits on colons outside brackets; a path part (with `/`) takes everything up to the next colon. */
function parts(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const c of text) {
    if (c === '[') depth++;
    if (c === ']') depth--;
    if (c === ':' && depth === 0) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

const isPath = (p: string): boolean => p.includes('/');

function port(text: string, spec: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`invalid port "${text}" in forward "${spec}"`, { suggestion: `a port is 0-65535; ${FORMS}` });
  return Number(text);
}

function host(text: string, spec: string): string {
  const h = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (h === '' || /[\s/]/.test(h)) throw new UsageError(`invalid host "${text}" in forward "${spec}"`, { suggestion: FORMS });
  return h === '*' ? '0.0.0.0' : h;
}

/** The listening end: `[BIND:]PORT` or a path; returns it and how many parts it took. */
function listenEnd(p: string[], spec: string): [Endpoint, number] {
  if (isPath(p[0]!)) return [{ kind: 'unix', path: p[0]! }, 1];
  if (/^\d+$/.test(p[0]!)) return [{ kind: 'tcp', host: '127.0.0.1', port: port(p[0]!, spec) }, 1];
  if (p.length < 2) throw new UsageError(`forward "${spec}" lacks a port`, { suggestion: FORMS });
  return [{ kind: 'tcp', host: host(p[0]!, spec), port: port(p[1]!, spec) }, 2];
}

/** The connecting end: `HOST:PORT` or a path, using all of `p`. */
function targetEnd(p: string[], spec: string): Endpoint {
  if (p.length === 1 && isPath(p[0]!)) return { kind: 'unix', path: p[0]! };
  if (p.length !== 2) throw new UsageError(`forward "${spec}" needs HOST:PORT or a socket path after the listening side`, { suggestion: FORMS });
  const target = { kind: 'tcp' as const, host: host(p[0]!, spec), port: port(p[1]!, spec) };
  if (target.port === 0) throw new UsageError(`forward "${spec}" connects to port 0`, { suggestion: 'name the port the service listens on' });
  return target;
}

/** Parses one spec. @throws UsageError naming the spec and the accepted forms. */
export function parseForwardSpec(text: string, direction: 'local' | 'remote'): ForwardSpec {
  const p = parts(text.trim());
  if (text.trim() === '' || p.some(x => x === '')) throw new UsageError(`invalid forward "${text}"`, { suggestion: FORMS });
  const [listen, used] = listenEnd(p, text);
  const target = targetEnd(p.slice(used), text);
  return { direction, listen, target, text };
}

/** `host:port` (bracketed IPv6) or the path, as the host's dial and listen take them. */
export function endpointAddress(e: Endpoint): string {
  if (e.kind === 'unix') return e.path;
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** How an endpoint is shown: `127.0.0.1:8080`, `unix:/run/x.sock`. */
export function formatEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? `unix:${e.path}` : endpointAddress(e);
}
