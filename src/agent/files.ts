// Moved to src/backends/agent-files.ts; kept until src/backends/docker/backend.ts and
// bench/agent-files.ts import it from there (a known exception in src/layers.ts).
export { agentFiles, agentOrFallback, startAgentFiles, type AgentFileClient, type AgentFilesOptions } from '../backends/agent-files.ts';
