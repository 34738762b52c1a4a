/**
 * The link part of the control socket's `health` and `status` answers, from the backend's own
 * LinkHealth (or `ready` for a backend without a link that can die).
 */
import { linkHealth, type Backend } from '../remote/backend.ts';
import type { LinkReport } from './protocol.ts';

/** The backend's LinkHealth as the wire carries it, with the seconds it has been down. */
export function linkReport(backend: Backend): LinkReport {
  const h = linkHealth(backend);
  const report: LinkReport = { state: h.state, since: h.since, reconnects: h.reconnects };
  if (h.downSince !== undefined) {
    report.downSince = h.downSince;
    report.downSeconds = Math.max(0, Math.round((Date.now() - Date.parse(h.downSince)) / 1000));
  }
  if (h.lastError !== undefined) report.lastError = h.lastError;
  return report;
}
