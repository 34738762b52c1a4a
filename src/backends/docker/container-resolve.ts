/**
 * Finds the container a destination names: `docker://NAME` by name or ID (prefix), as the engine
 * itself resolves them; `compose://project/service[/N]` by the labels Compose puts on its
 * containers. Every failure lists what does exist, so the user can pick.
 */
import { basename } from 'node:path';
import type Dockerode from 'dockerode';
import { composeProjectName, type Destination } from '../../remote/destination.ts';
import { NotFoundError, StateError, UsageError } from '../../remote/errors.ts';

export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
export const COMPOSE_NUMBER = 'com.docker.compose.container-number';
export const COMPOSE_ONEOFF = 'com.docker.compose.oneoff';

/** The container a destination resolved to. */
export interface ResolvedContainer {
  id: string;
  /** Its name without the leading '/'. */
  name: string;
  info: Dockerode.ContainerInspectInfo;
}

/** The Compose project of `compose://./…`: COMPOSE_PROJECT_NAME, else the folder's name normalised. */
export function composeProjectOf(host: string, cwd: string, env: Record<string, string | undefined>): string {
  if (host !== '.') return host;
  return env.COMPOSE_PROJECT_NAME || composeProjectName(basename(cwd));
}

/** Resolves a docker or compose destination to one running container. */
export async function resolveContainer(docker: Dockerode, dest: Destination, context: { cwd: string; env: Record<string, string | undefined> }): Promise<ResolvedContainer> {
  if (dest.type === 'compose') return resolveCompose(docker, dest, composeProjectOf(dest.host, context.cwd, context.env));
  return resolveByName(docker, dest.host);
}

async function resolveByName(docker: Dockerode, name: string): Promise<ResolvedContainer> {
  let info: Dockerode.ContainerInspectInfo;
  try {
    info = await docker.getContainer(name).inspect();
  } catch (error) {
    const e = error as { statusCode?: number; message?: string };
    if (e.statusCode !== 404 && !/multiple|ambiguous/i.test(e.message ?? '')) throw error;
    const all = await docker.listContainers({ all: true });
    const matches = all.filter(c => c.Id.startsWith(name));
    if (matches.length > 1 || /multiple|ambiguous/i.test(e.message ?? '')) {
      throw new UsageError(`"${name}" matches several containers: ${matches.map(c => `${c.Id.slice(0, 12)} (${c.Names[0]?.slice(1) ?? ''})`).join(', ')}`, {
        cause: error, suggestion: 'give a longer ID prefix or the container name',
      });
    }
    const names = all.map(c => c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12));
    const near = similarNames(name, names);
    throw new NotFoundError(`no container named "${name}"${near.length > 0 ? `; similar: ${near.join(', ')}` : all.length === 0 ? '; the engine has no containers' : ''}`, {
      cause: error,
      suggestion: near.length > 0 ? `use docker://${near[0]}` : `list containers with \`docker ps -a\`${all.length > 0 ? ` (there are: ${names.slice(0, 8).join(', ')})` : ''}`,
    });
  }
  checkUsable(info);
  return { id: info.Id, name: info.Name.replace(/^\//, ''), info };
}

function checkUsable(info: Dockerode.ContainerInspectInfo): void {
  const name = info.Name.replace(/^\//, '');
  const s = info.State;
  if (s.Paused) throw new StateError(`container ${name} is paused`, { suggestion: `docker unpause ${name}` });
  if (s.Restarting) throw new StateError(`container ${name} is restarting (exit code ${s.ExitCode})`, { suggestion: `check its logs: docker logs ${name}` });
  if (!s.Running) {
    throw new StateError(`container ${name} is not running (state: ${s.Status}${s.Status === 'exited' ? `, exit code ${s.ExitCode}` : ''})`, {
      suggestion: `start it: docker start ${name}`,
    });
  }
}

async function resolveCompose(docker: Dockerode, dest: Destination, project: string): Promise<ResolvedContainer> {
  const service = dest.service ?? '';
  const inProject = (await docker.listContainers({ all: true, filters: { label: [`${COMPOSE_PROJECT}=${project}`] } }))
    .filter(c => c.Labels[COMPOSE_ONEOFF] !== 'True');
  const replicas = inProject.filter(c => c.Labels[COMPOSE_SERVICE] === service)
    .sort((a, b) => Number(a.Labels[COMPOSE_NUMBER] ?? 0) - Number(b.Labels[COMPOSE_NUMBER] ?? 0));
  const url = (n?: string): string => `compose://${dest.host}/${service}${n === undefined ? '' : `/${n}`}`;
  const describe = (c: Dockerode.ContainerInfo): string => `${url(c.Labels[COMPOSE_NUMBER])} (${c.Names[0]?.slice(1) ?? c.Id.slice(0, 12)}, ${c.State})`;
  if (replicas.length === 0) {
    if (inProject.length === 0) {
      const projects = [...new Set((await docker.listContainers({ all: true, filters: { label: [COMPOSE_PROJECT] } })).map(c => c.Labels[COMPOSE_PROJECT]!))].sort();
      throw new NotFoundError(`no Compose project "${project}"${projects.length > 0 ? `; projects: ${projects.join(', ')}` : '; no Compose containers exist'}`, {
        suggestion: projects.length > 0 ? `use compose://${projects[0]}/${service}` : 'start the project: docker compose up -d',
      });
    }
    const services = [...new Set(inProject.map(c => c.Labels[COMPOSE_SERVICE]!))].sort();
    const near = similarNames(service, services);
    throw new NotFoundError(`Compose project "${project}" has no service "${service}"; services: ${services.join(', ')}`, {
      suggestion: `use compose://${dest.host}/${near[0] ?? services[0]}`,
    });
  }
  let chosen: Dockerode.ContainerInfo;
  if (dest.sequence !== undefined) {
    const match = replicas.find(c => c.Labels[COMPOSE_NUMBER] === String(dest.sequence));
    if (match === undefined) {
      throw new NotFoundError(`service "${service}" of Compose project "${project}" has no replica ${dest.sequence}; replicas: ${replicas.map(describe).join(', ')}`, {
        suggestion: `use one of the replica numbers listed`,
      });
    }
    chosen = match;
  } else {
    const running = replicas.filter(c => c.State === 'running');
    if (running.length > 1) {
      throw new StateError(`service "${service}" of Compose project "${project}" has ${running.length} running replicas; pick one: ${running.map(describe).join(', ')}`, {
        suggestion: `add the replica number: ${url(running[0]!.Labels[COMPOSE_NUMBER])}`,
      });
    }
    chosen = running[0] ?? replicas[0]!;
  }
  const info = await docker.getContainer(chosen.Id).inspect();
  if (!info.State.Running || info.State.Paused) {
    const others = replicas.filter(c => c.Id !== chosen.Id);
    try {
      checkUsable(info);
    } catch (error) {
      const e = error as StateError;
      throw new StateError(`${e.message}${others.length > 0 ? `; other replicas: ${others.map(describe).join(', ')}` : ''}`, { suggestion: e.suggestion ?? '' });
    }
  }
  return { id: info.Id, name: info.Name.replace(/^\//, ''), info };
}

/** Names close to `name` (edit distance, shared prefix or substring), best first, at most 5. */
export function similarNames(name: string, names: readonly string[]): string[] {
  const scored = names.map(n => {
    const d = editDistance(name.toLowerCase(), n.toLowerCase());
    const related = n.includes(name) || name.includes(n) || d <= Math.max(2, Math.floor(name.length / 3));
    return { n, d, related };
  }).filter(s => s.related).sort((a, b) => a.d - b.d || a.n.localeCompare(b.n));
  return [...new Set(scored.map(s => s.n))].slice(0, 5);
}

// Optimal string alignment distance: a swap of two neighbours ("wbe" for "web") counts as one edit.
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
