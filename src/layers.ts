/**
 * The map of allowed imports between the folders of `src/`, as DESIGN.md draws it. Data flows
 * cli → mount → (backends | workspacefs → fuse) and everything stands on `remote`, the contracts.
 * test/architecture.test.ts reads every static, re-exporting and dynamic import under src/ and
 * fails on an arrow this map does not allow.
 *
 * A key is a folder under src/ ("backends/ssh"); a file belongs to the longest key its folder
 * starts with. A target is a folder key or, to allow only part of a layer, one file
 * ("fuse/operations.ts"). A layer may always import its own files. `node:` modules are open to all.
 */

/** What one layer is for and what it may import. */
export interface LayerRule {
  /** The layer's job, in a line. */
  readonly role: string;
  /** Layers (folder keys) or single files (paths under src/) it may import. */
  readonly imports: readonly string[];
}

/** Every layer of src/, in the order the data flows. */
export const LAYERS: Readonly<Record<string, LayerRule>> = {
  cli: {
    role: 'commander commands; the only place for argv, stdout and exit codes',
    imports: ['mount', 'control', 'exec', 'stubs', 'sessions', 'agent', 'backends', 'writeback/journal-dir.ts', 'system', 'remote'],
  },
  mount: {
    role: 'the composition root: daemon wiring, runtime records, options, unmount',
    imports: ['control', 'backends', 'sessions', 'writeback', 'workspacefs', 'fuse', 'system', 'remote'],
  },
  control: {
    role: 'the control socket a mount serves (status, cache flush, exec, discover)',
    imports: ['stubs', 'sessions', 'workspacefs/stats.ts', 'remote'],
  },
  exec: {
    role: 'remote exec from a local folder: which mount, which remote folder',
    imports: ['mount/registry.ts', 'remote'],
  },
  stubs: {
    role: 'path stubs that run remote commands through `rmount exec`',
    imports: ['remote'],
  },
  backends: {
    role: 'picks a backend for a destination; the agent-over-exec FileClient the backends share',
    imports: ['backends/ssh', 'backends/docker', 'backends/local', 'agent', 'sessions', 'sftp', 'remote'],
  },
  'backends/ssh': {
    role: 'SSH over ssh2: connection, auth, host keys, exec, the sftp subsystem',
    imports: ['backends', 'agent', 'sftp', 'remote'],
  },
  'backends/docker': {
    role: 'Docker and Compose over dockerode: exec, archives, the agentless FileClient',
    imports: ['backends', 'agent', 'sftp', 'remote'],
  },
  'backends/local': {
    role: 'a local folder through node:fs and child_process',
    imports: ['system', 'remote'],
  },
  sessions: {
    role: 'detached remote sessions and forwards: the client of rmount-agent\'s process host over any duplex stream',
    imports: ['remote'],
  },
  agent: {
    role: 'rmount-agent builds: platform resolution and verified upload',
    imports: ['remote'],
  },
  writeback: {
    role: 'the write-back journal between the VFS and the FileClient: changes accepted locally, journaled, sent in order',
    imports: ['remote'],
  },
  workspacefs: {
    role: 'the workspace VFS: inodes, caches, handles over a FileClient',
    imports: ['fuse/operations.ts', 'remote'],
  },
  fuse: {
    role: 'the TypeScript face of the native FUSE binding',
    imports: ['system', 'remote'],
  },
  sftp: {
    role: 'the SFTP v3 codec and a FileClient over any duplex stream',
    imports: ['remote'],
  },
  system: {
    role: 'facts and parts of this machine that several layers use (the kernel mount table, compiled addons)',
    imports: ['remote'],
  },
  remote: {
    role: 'the contracts: Destination, Backend, FileClient, Session, Platform, errors, Logger',
    imports: [],
  },
};

/** Files directly in src/ that belong to no layer and import nothing. */
export const ROOT_FILES: readonly string[] = ['layers.ts'];

/** npm packages and the layers that may import them; any other package is refused. */
export const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  commander: ['cli'],
  ssh2: ['backends/ssh'],
  'ssh-config': ['backends/ssh'],
  dockerode: ['backends/docker'],
  'tar-stream': ['backends/docker'],
};

/** Layers that may read argv, write stdout or set exit codes. */
export const PROCESS_IO_LAYERS: readonly string[] = ['cli'];

/** An import that breaks the map today and is tolerated until its owner moves it. */
export interface KnownException {
  /** The importing file, under src/. */
  readonly from: string;
  /** The imported file, under src/ (or a package name). */
  readonly to: string;
  /** What ends it. */
  readonly until: string;
}

// Arrows the map does not allow but the code still has, each with what ends it. The
// architecture test fails when one of them no longer occurs, so the list only shrinks.
export const KNOWN_EXCEPTIONS: readonly KnownException[] = [];
