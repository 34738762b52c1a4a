export { WorkspaceFilesystem } from './workspace-filesystem.ts';
export { resolveOptions, type ResolvedWorkspaceOptions, type WorkspaceOptions } from './options.ts';
export { silentLogger, type Logger } from '../remote/log.ts';
export type { WorkspaceStats, HitMiss } from './stats.ts';
