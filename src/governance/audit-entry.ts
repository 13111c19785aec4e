// What one audit-log entry is: the canonical JSON (sorted keys, no spaces) of one stored event,
// every column of it. The server hashes these texts into the log and `arbiter audit verify`
// recomputes them from the stored events, so both must build them here, the same way.
import { canonicalJson } from './canonical-json.js';

/** The columns of a stored event (structurally the storage port's StoredEvent). */
export interface EventRecord {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly kind: string;
  readonly subject: string;
  readonly reason: string;
  readonly data: unknown;
}

export function auditEntryText(event: EventRecord): string {
  const { seq, at, actor, kind, subject, reason, data } = event;
  return canonicalJson({ seq, at, actor, kind, subject, reason, data });
}
