/**
 * Which Docker engine to talk to, resolved the way the docker CLI does it: DOCKER_HOST (with
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else the context named by DOCKER_CONTEXT, else the
 * `currentContext` of config.json, else the default socket. Pure: files are read through the
 * `readFile` it is given, so the rules are tested as tables.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { UsageError } from '../../remote/errors.ts';

/** Where the engine listens and how to reach it. */
export type EngineEndpoint =
  | { kind: 'unix'; socketPath: string; source: string }
  | { kind: 'tcp'; host: string; port: number; tls?: EngineTls; source: string }
  | { kind: 'ssh'; host: string; port: number; user?: string; source: string };

/** TLS material for a tcp endpoint; `verify` false means the server's certificate is not checked. */
export interface EngineTls {
  verify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

/** What resolution reads: the environment, the home folder and a way to read small files. */
export interface EngineLookup {
  env: Record<string, string | undefined>;
  home: string;
  /** A file's text, or undefined when it does not exist. */
  readFile: (path: string) => string | undefined;
}

/** The engine socket when nothing says otherwise. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** The folder of a context in the context store (`contexts/meta/<sha256 of its name>`). */
export function contextId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/** Resolves the engine endpoint; throws UsageError for a malformed host or a missing context. */
export function resolveEngineEndpoint(lookup: EngineLookup): EngineEndpoint {
  const { env } = lookup;
  const configDir = env.DOCKER_CONFIG || posix.join(lookup.home, '.docker');
  // As the docker CLI: DOCKER_HOST wins over any context, DOCKER_CONTEXT over config.json.
  if (env.DOCKER_HOST) {
    const tls = env.DOCKER_TLS_VERIFY ? tlsFromDir(lookup, env.DOCKER_CERT_PATH || configDir, true) : undefined;
    return parseEngineHost(env.DOCKER_HOST, 'DOCKER_HOST', tls);
  }
  let name = env.DOCKER_CONTEXT || '';
  let source = 'DOCKER_CONTEXT';
  if (name === '') {
    const text = lookup.readFile(posix.join(configDir, 'config.json'));
    if (text !== undefined) {
      try {
        name = String((JSON.parse(text) as { currentContext?: unknown }).currentContext ?? '');
      } catch (error) {
        throw new UsageError(`${posix.join(configDir, 'config.json')} is not valid JSON`, { cause: error, suggestion: 'fix or remove the file' });
      }
      source = `currentContext in ${posix.join(configDir, 'config.json')}`;
    }
  }
  if (name === '' || name === 'default') return { kind: 'unix', socketPath: DEFAULT_SOCKET, source: 'default' };
  const id = contextId(name);
  const metaPath = posix.join(configDir, 'contexts', 'meta', id, 'meta.json');
  const meta = lookup.readFile(metaPath);
  if (meta === undefined) {
    throw new UsageError(`docker context "${name}" (from ${source}) does not exist: no ${metaPath}`, {
      suggestion: 'list contexts with `docker context ls`, or unset DOCKER_CONTEXT',
    });
  }
  let endpoint: { Host?: string; SkipTLSVerify?: boolean } | undefined;
  try {
    endpoint = (JSON.parse(meta) as { Endpoints?: Record<string, { Host?: string; SkipTLSVerify?: boolean }> }).Endpoints?.docker;
  } catch (error) {
    throw new UsageError(`${metaPath} is not valid JSON`, { cause: error, suggestion: `recreate the context "${name}"` });
  }
  if (endpoint?.Host === undefined || endpoint.Host === '') {
    throw new UsageError(`docker context "${name}" has no docker endpoint`, { suggestion: `recreate it: docker context create ${name} --docker host=…` });
  }
  const tlsDir = posix.join(configDir, 'contexts', 'tls', id, 'docker');
  const hasTls = lookup.readFile(posix.join(tlsDir, 'ca.pem')) !== undefined || lookup.readFile(posix.join(tlsDir, 'cert.pem')) !== undefined;
  const tls = hasTls ? tlsFromDir(lookup, tlsDir, endpoint.SkipTLSVerify !== true) : undefined;
  return parseEngineHost(endpoint.Host, `context "${name}"`, tls);
}

function tlsFromDir(lookup: EngineLookup, dir: string, verify: boolean): EngineTls {
  const tls: EngineTls = { verify };
  const ca = lookup.readFile(posix.join(dir, 'ca.pem'));
  const cert = lookup.readFile(posix.join(dir, 'cert.pem'));
  const key = lookup.readFile(posix.join(dir, 'key.pem'));
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  return tls;
}

/** Parses `unix:///path`, `tcp://host:port`, `ssh://user@host:port` (and a bare socket path). */
export function parseEngineHost(text: string, source: string, tls?: EngineTls): EngineEndpoint {
  const bad = (why: string): UsageError => new UsageError(`invalid Docker host "${text}" (from ${source}): ${why}`, {
    suggestion: 'use unix:///var/run/docker.sock, tcp://host:2376 or ssh://user@host',
  });
  if (text.startsWith('/')) return { kind: 'unix', socketPath: text, source };
  const m = /^([a-z]+):\/\/(.*)$/.exec(text);
  if (!m) throw bad('no scheme');
  const [, scheme, rest] = m as unknown as [string, string, string];
  switch (scheme) {
    case 'unix':
      if (!rest.startsWith('/')) throw bad('a unix socket path must be absolute');
      return { kind: 'unix', socketPath: rest, source };
    case 'tcp':
    case 'http':
    case 'https': {
      const { host, port } = hostPort(rest.replace(/\/.*$/, ''), tls || scheme === 'https' ? 2376 : 2375, bad);
      const ep: EngineEndpoint = { kind: 'tcp', host, port, source };
      if (tls) ep.tls = tls;
      else if (scheme === 'https') ep.tls = { verify: true };
      return ep;
    }
    case 'ssh': {
      const authority = rest.replace(/\/.*$/, '');
      const at = authority.lastIndexOf('@');
      const { host, port } = hostPort(at < 0 ? authority : authority.slice(at + 1), 22, bad);
      const ep: EngineEndpoint = { kind: 'ssh', host, port, source };
      if (at >= 0) ep.user = decodeURIComponent(authority.slice(0, at));
      return ep;
    }
    default:
      throw bad(`unsupported scheme "${scheme}://"`);
  }
}

function hostPort(text: string, defaultPort: number, bad: (why: string) => Error): { host: string; port: number } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw bad('unclosed "["');
    host = text.slice(1, close);
    if (text[close + 1] === ':') portText = text.slice(close + 2);
  } else if (text.includes(':')) {
    host = text.slice(0, text.lastIndexOf(':'));
    portText = text.slice(text.lastIndexOf(':') + 1);
  }
  if (host === '') throw bad('the host is empty');
  if (portText === undefined || portText === '') return { host, port: defaultPort };
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad(`bad port "${portText}"`);
  return { host, port: Number(portText) };
}

/** A short form for messages: `unix:///run/docker.sock`, `tcp://h:2376 (TLS)`, `ssh://u@h:22`. */
export function formatEndpoint(ep: EngineEndpoint): string {
  switch (ep.kind) {
    case 'unix': return `unix://${ep.socketPath}`;
    case 'tcp': return `tcp://${ep.host}:${ep.port}${ep.tls ? ' (TLS)' : ''}`;
    case 'ssh': return `ssh://${ep.user === undefined ? '' : `${ep.user}@`}${ep.host}:${ep.port}`;
  }
}
