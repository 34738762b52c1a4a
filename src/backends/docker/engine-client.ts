/**
 * The engine-side helpers of the Docker backend: a dockerode client for an endpoint, the platform
 * merge of image metadata and `uname`, and small pieces `start` uses.
 */
import { readFileSync } from 'node:fs';
import Dockerode from 'dockerode';
import { goarchFromMachine, goosFromUname, type PlatformInfo } from '../../remote/platform.ts';
import type { EngineEndpoint } from './engine-endpoint.ts';

/** Makes a dockerode client for an endpoint. */
export function dockerFor(ep: EngineEndpoint): Dockerode {
  switch (ep.kind) {
    case 'unix': return new Dockerode({ socketPath: ep.socketPath });
    case 'tcp': {
      const o: Dockerode.DockerOptions = { host: ep.host, port: ep.port, protocol: ep.tls ? 'https' : 'http' };
      if (ep.tls?.ca !== undefined) o.ca = ep.tls.ca;
      if (ep.tls?.cert !== undefined) o.cert = ep.tls.cert;
      if (ep.tls?.key !== undefined) o.key = ep.tls.key;
      return new Dockerode(o);
    }
    case 'ssh': {
      const o: Dockerode.DockerOptions = { protocol: 'ssh', host: ep.host, port: ep.port };
      if (ep.user !== undefined) o.username = ep.user;
      return new Dockerode(o);
    }
  }
}

/** Image platform + `uname` → PlatformInfo; `uname -m` wins when the two disagree. */
export function mergePlatform(image: { Os?: string; Architecture?: string; Variant?: string }, uname: { sysname: string; machine: string } | undefined): PlatformInfo {
  const os = (image.Os ?? '').toLowerCase() || (uname ? goosFromUname(uname.sysname) : '');
  let arch = (image.Architecture ?? '').toLowerCase();
  let variant = arch === 'arm' ? (image.Variant ?? '') : '';
  if (uname !== undefined && uname.machine !== '') {
    const u = goarchFromMachine(uname.machine);
    if (u.arch !== '' && (arch === '' || u.arch !== arch)) {
      arch = u.arch;
      variant = u.arch === 'arm' ? u.variant : '';
    } else if (u.arch === 'arm' && variant === '') {
      variant = u.variant;
    }
  }
  return { os, arch, variant };
}

/** A small local file's text, or undefined when it cannot be read. */
export function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `work`, or `error()` as soon as `signal` aborts. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(error());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(error());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
