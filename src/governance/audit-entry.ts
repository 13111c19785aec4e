// What one audit-log entry is: the canonical JSON (sorted keys, no spaces) of one stored event,
// every column of it. The server hashes these texts into the log and `arbiter audit verify`
// recomputes them from the stored events, so both must build them here, the same way.
import { canonicalJson, sha256Hex } from './canonical-json.js';

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

/**
 * What an entry vouches for a proposal: the hex SHA-256 of the canonical JSON of its stored
 * document (with its ballots, responses, objections and petition). Every write of a proposal's
 * document carries an entry with this digest in `data.docSha256`, so the last such entry of a
 * proposal must match the stored document; the argument is the document as stored and read back.
 */
export function proposalDocSha256(doc: unknown): string {
  return sha256Hex(canonicalJson(doc));
}

/**
 * What a `proposal.comment` entry vouches for (its data.commentSha256): the hex SHA-256 of the
 * canonical JSON of the comment's row (structurally the storage port's StoredComment).
 */
export function commentRowSha256(row: { readonly proposal: string; readonly n: number; readonly actor: string; readonly text: string; readonly at: number; readonly revision: number }): string {
  const { proposal, n, actor, text, at, revision } = row;
  return sha256Hex(canonicalJson({ proposal, n, actor, text, at, revision }));
}
