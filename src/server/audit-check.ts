// Verification of a store's audit log, as `arbiter audit verify --data` and the server's start-up
// run it: the log itself (governance/audit-log.ts: every leaf recomputed from the entries, every
// checkpoint's root and signature, checkpoints kept outside the database), and the rows the log
// vouches for, read back and compared with what their entries say:
// - policy and fleet versions: `policy.version`/`fleet.version` entries carry the SHA-256 of the text;
// - tokens: `token.create` entries carry the user, role, team and the SHA-256 of the whole row
//   (storage/token-event.ts), `token.revoke` entries the revocation;
// - proposals (with their ballots, responses, objections and petition): the last entry about a
//   proposal that carries `data.docSha256` vouches for its stored document;
// - comments: each `proposal.comment` entry carries the SHA-256 of its comment's row
//   (`data.commentSha256`, `data.n`); comments moved out of the documents by the schema
//   migration (legacy) are vouched for by their proposal's digest, with them embedded again.
// A row no entry vouches for, a vouched row that is missing, and a row that differs are problems,
// each naming the row and the entry.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { auditEntryText, commentRowSha256, proposalDocSha256 } from '../governance/audit-entry.js';
import { verifyAuditLog } from '../governance/audit-log.js';
import type { AuditEntry, AuditProblem, AuditVerification, Checkpoint } from '../governance/audit-log.js';
import type { Store, StoredComment, StoredEvent, StoredProposal, StoredToken, StoredVersion } from '../storage/port.js';
import { tokenRowSha256 } from '../storage/token-event.js';

const PAGE = 1000;

export interface StoredLog {
  readonly events: StoredEvent[];
  readonly entries: AuditEntry[];
  readonly checkpoints: Checkpoint[];
  /** Aligned with entries; null where no leaf hash is stored. */
  readonly storedLeafHashes: (string | null)[];
}

/** Reads the whole log of a store: checkpoints first (a running server only appends, so every one read covers entries read after it). */
export async function readStoredLog(store: Store): Promise<StoredLog> {
  const checkpoints = (await store.checkpoints()).map(({ size, root, time, signature, publicKey }) => ({ size, root, time, signature, publicKey }));
  const events: StoredEvent[] = [];
  for (let from = 1; ; ) {
    const page = await store.events(from, PAGE);
    const last = page.at(-1);
    if (last === undefined) break;
    events.push(...page);
    from = last.seq + 1;
  }
  const entries = events.map((event) => ({ index: event.seq - 1, text: auditEntryText(event) }));
  const leaves = new Map((await store.auditLeaves()).map((l) => [l.seq - 1, l.hash]));
  return { events, entries, checkpoints, storedLeafHashes: entries.map((e) => leaves.get(e.index) ?? null) };
}

export interface VouchedRows {
  readonly policies: readonly StoredVersion[];
  readonly fleet: StoredVersion | null;
  readonly tokens: readonly StoredToken[];
  readonly proposals: readonly StoredProposal[];
  /** Every comment, by proposal and number. */
  readonly comments: readonly StoredComment[];
}

export async function readVouchedRows(store: Store): Promise<VouchedRows> {
  return {
    policies: await store.policyVersions(),
    fleet: await store.currentFleet(),
    tokens: await store.listTokens(),
    proposals: await store.listProposals(),
    comments: await readComments(store),
  };
}

async function readComments(store: Store): Promise<StoredComment[]> {
  const out: StoredComment[] = [];
  for (const proposal of (await store.commentCounts()).keys()) {
    for (let after = 0; ; ) {
      const page = await store.commentsOf(proposal, after, PAGE);
      const last = page.at(-1);
      if (last === undefined) break;
      out.push(...page);
      after = last.n;
    }
  }
  return out;
}

export interface StoreVerificationOptions {
  /** The log's trusted Ed25519 public key (raw, base64). */
  readonly publicKey: string;
  readonly allowUnsignedTail?: boolean;
  readonly allowNoCheckpoint?: boolean;
  readonly kept?: readonly { checkpoint: Checkpoint; from: string }[];
}

/** The log and the rows it vouches for, verified together; problems in log order. */
export async function verifyStore(store: Store, options: StoreVerificationOptions): Promise<AuditVerification & { log: StoredLog }> {
  const log = await readStoredLog(store);
  const rows = await readVouchedRows(store);
  const result = verifyAuditLog({
    entries: log.entries,
    checkpoints: log.checkpoints,
    publicKey: options.publicKey,
    storedLeafHashes: log.storedLeafHashes,
    allowUnsignedTail: options.allowUnsignedTail === true,
    allowNoCheckpoint: options.allowNoCheckpoint === true,
    kept: options.kept ?? [],
  });
  const problems = [...result.problems, ...checkVouchedRows(log.events, rows)].sort(
    (a, b) => (a.entry ?? Number.POSITIVE_INFINITY) - (b.entry ?? Number.POSITIVE_INFINITY) || (a.checkpoint ?? -1) - (b.checkpoint ?? -1),
  );
  return { ...result, ok: problems.length === 0, problems, firstBadEntry: problems[0]?.entry ?? null, log };
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const record = (data: unknown): Record<string, unknown> => (typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {});
const restore = 'Restore it from a backup or an export, and find out who could write the database.';

/** Compares the rows with what the log's entries say about them. */
export function checkVouchedRows(events: readonly StoredEvent[], rows: VouchedRows): AuditProblem[] {
  return [...checkVersions('policy', events, rows.policies), ...checkVersions('fleet', events, rows.fleet ? [rows.fleet] : [], true), ...checkTokens(events, rows.tokens), ...checkProposals(events, rows.proposals, rows.comments), ...checkComments(events, rows.comments)];
}

function checkVersions(what: 'policy' | 'fleet', events: readonly StoredEvent[], rows: readonly StoredVersion[], onlyCurrent = false): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const vouched = new Map<number, StoredEvent>();
  for (const event of events) {
    const version = record(event.data)['version'];
    if (event.kind === `${what}.version` && typeof version === 'number') vouched.set(version, event);
  }
  const seen = new Set<number>();
  for (const row of rows) {
    seen.add(row.version);
    const event = vouched.get(row.version);
    if (event === undefined) {
      problems.push({ entry: null, checkpoint: null, message: `${cap(what)} version ${row.version} is stored (${what}_versions) but no entry of the log records it: it was added in the database. ${restore}` });
      continue;
    }
    const entry = event.seq - 1;
    const data = record(event.data);
    if (data['sha256'] !== sha256(row.text)) {
      problems.push({ entry, checkpoint: null, message: `${cap(what)} version ${row.version}: its stored text (SHA-256 ${sha256(row.text)}) is not the text entry ${entry} vouches for (SHA-256 ${String(data['sha256'])}): it was edited in the database, and the server will not enforce it. ${restore}` });
    }
    const fields = [row.actor !== event.actor ? `actor "${row.actor}" (entry: "${event.actor}")` : null, row.reason !== event.reason ? `reason (entry: "${event.reason}")` : null, row.createdAt !== event.at ? `time ${row.createdAt} (entry: ${event.at})` : null].filter((f) => f !== null);
    if (fields.length > 0) problems.push({ entry, checkpoint: null, message: `${cap(what)} version ${row.version}: its stored ${fields.join(', ')} differ from entry ${entry}: the row was edited in the database. ${restore}` });
  }
  if (!onlyCurrent) {
    for (const [version, event] of vouched) {
      if (!seen.has(version)) problems.push({ entry: event.seq - 1, checkpoint: null, message: `${cap(what)} version ${version}, recorded by entry ${event.seq - 1}, is missing from ${what}_versions: it was deleted in the database. ${restore}` });
    }
  } else if (rows.length === 0 && vouched.size > 0) {
    problems.push({ entry: null, checkpoint: null, message: `No ${what} version is stored, but the log records ${vouched.size}: they were deleted in the database. ${restore}` });
  }
  return problems;
}

interface TokenRecord {
  readonly entry: number;
  readonly user: unknown;
  readonly role: unknown;
  readonly team: unknown;
  /** Absent in entries written before tokens were vouched for by digest. */
  readonly rowSha256: unknown;
  revokedAt: number | null;
  revokeEntry: number | null;
}

function checkTokens(events: readonly StoredEvent[], rows: readonly StoredToken[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const vouched = new Map<string, TokenRecord>();
  for (const event of events) {
    if (event.kind === 'token.create') {
      const data = record(event.data);
      vouched.set(event.subject, { entry: event.seq - 1, user: data['user'], role: data['role'], team: data['team'], rowSha256: data['rowSha256'], revokedAt: null, revokeEntry: null });
    } else if (event.kind === 'token.revoke') {
      const token = vouched.get(event.subject);
      if (token) {
        token.revokedAt = event.at;
        token.revokeEntry = event.seq - 1;
      }
    }
  }
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.id);
    const name = `Token ${row.id} (user "${row.user}", role ${row.role}${row.team ? `, team ${row.team}` : ''})`;
    const token = vouched.get(row.id);
    if (token === undefined) {
      problems.push({ entry: null, checkpoint: null, message: `${name} is in the tokens table but no entry of the log created it: it was added in the database. Delete it, ${restore.charAt(0).toLowerCase()}${restore.slice(1)}` });
      continue;
    }
    const differs = [
      row.user !== token.user ? `user "${row.user}" (entry ${token.entry}: "${String(token.user)}")` : null,
      row.role !== token.role ? `role ${row.role} (entry ${token.entry}: ${String(token.role)})` : null,
      (row.team ?? null) !== token.team ? `team ${row.team ?? 'none'} (entry ${token.entry}: ${typeof token.team === 'string' ? token.team : 'none'})` : null,
    ].filter((f) => f !== null);
    if (differs.length > 0) {
      problems.push({ entry: token.entry, checkpoint: null, message: `Token ${row.id}: its stored ${differs.join(', ')} differs from what the log vouches for: the row was edited in the database. ${restore}` });
    } else if (typeof token.rowSha256 === 'string' && token.rowSha256 !== tokenRowSha256(row)) {
      problems.push({ entry: token.entry, checkpoint: null, message: `Token ${row.id}: its stored row (secret hash or creation time) is not the one entry ${token.entry} vouches for: it was edited in the database, perhaps to a secret someone else knows. Revoke the token; ${restore.charAt(0).toLowerCase()}${restore.slice(1)}` });
    }
    if (token.revokedAt !== null && row.revokedAt !== token.revokedAt) {
      problems.push({ entry: token.revokeEntry, checkpoint: null, message: `${name} was revoked by entry ${token.revokeEntry ?? '?'}, but the tokens table shows it ${row.revokedAt === null ? 'active' : `revoked at ${row.revokedAt}`}: the row was edited in the database. ${restore}` });
    } else if (token.revokedAt === null && row.revokedAt !== null) {
      problems.push({ entry: token.entry, checkpoint: null, message: `${name} is revoked in the tokens table but no entry of the log revoked it: the row was edited in the database. ${restore}` });
    }
  }
  for (const [id, token] of vouched) {
    if (!seen.has(id)) problems.push({ entry: token.entry, checkpoint: null, message: `Token ${id} (user "${String(token.user)}"), created by entry ${token.entry}, is missing from the tokens table: it was deleted in the database. ${restore}` });
  }
  return problems;
}

function checkProposals(events: readonly StoredEvent[], rows: readonly StoredProposal[], comments: readonly StoredComment[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  // A document stored before comments had a table of their own was vouched for with them embedded.
  const legacy = new Map<string, { actor: string; text: string; at: number; revision: number }[]>();
  for (const c of comments) if (c.legacy) legacy.set(c.proposal, [...(legacy.get(c.proposal) ?? []), { actor: c.actor, text: c.text, at: c.at, revision: c.revision }]);
  const embedded = (row: StoredProposal): unknown =>
    typeof row.doc === 'object' && row.doc !== null && !('comments' in row.doc) ? { ...row.doc, comments: legacy.get(row.id) ?? [] } : row.doc;
  const vouched = new Map<string, { entry: number; docSha256: string }>();
  for (const event of events) {
    const data = record(event.data);
    const docSha256 = data['docSha256'];
    if (typeof docSha256 !== 'string') continue;
    // Activation entries name their proposal in data; the others have it as subject.
    const id = event.kind === 'policy.activate' && typeof data['proposal'] === 'string' ? data['proposal'] : event.subject;
    vouched.set(id, { entry: event.seq - 1, docSha256 });
  }
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.id);
    const last = vouched.get(row.id);
    if (last === undefined) {
      problems.push({ entry: null, checkpoint: null, message: `Proposal ${row.id} is stored but no entry of the log vouches for its record: it was added in the database. ${restore}` });
    } else if (proposalDocSha256(row.doc) !== last.docSha256 && proposalDocSha256(embedded(row)) !== last.docSha256) {
      problems.push({ entry: last.entry, checkpoint: null, message: `Proposal ${row.id}: its stored record (ballots, responses, objections, petition, status) is not the one entry ${last.entry} vouches for: it was edited in the database. ${restore}` });
    }
  }
  for (const [id, last] of vouched) {
    if (!seen.has(id)) problems.push({ entry: last.entry, checkpoint: null, message: `Proposal ${id}, vouched for by entry ${last.entry}, is missing from the proposals table: it was deleted in the database. ${restore}` });
  }
  for (const id of legacy.keys()) {
    if (!seen.has(id)) problems.push({ entry: null, checkpoint: null, message: `Comments of proposal ${id} are stored but there is no such proposal: they were added in the database. ${restore}` });
  }
  return problems;
}

function checkComments(events: readonly StoredEvent[], rows: readonly StoredComment[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const vouched = new Map<string, { entry: number; sha: string }>();
  // Comments from before they had rows of their own: their entries (no commentSha256) carry the
  // author and, as reason, the text, in order (their time and revision are vouched for only
  // through the proposal's document, until its next step).
  const older = new Map<string, StoredEvent[]>();
  for (const event of events) {
    if (event.kind !== 'proposal.comment') continue;
    const data = record(event.data);
    const sha = data['commentSha256'];
    const n = data['n'];
    if (typeof sha === 'string' && typeof n === 'number') vouched.set(`${event.subject}#${n}`, { entry: event.seq - 1, sha });
    else older.set(event.subject, [...(older.get(event.subject) ?? []), event]);
  }
  for (const row of rows) {
    if (row.legacy) {
      const made = older.get(row.proposal)?.[row.n - 1];
      if (made === undefined) problems.push({ entry: null, checkpoint: null, message: `Comment ${row.n} of proposal ${row.proposal} (by "${row.actor}") is marked as migrated from its document, but no entry of the log made it: it was added in the database. ${restore}` });
      else if (made.actor !== row.actor || made.reason !== row.text) problems.push({ entry: made.seq - 1, checkpoint: null, message: `Comment ${row.n} of proposal ${row.proposal}: its stored author or text is not the one entry ${made.seq - 1} records: it was edited in the database. ${restore}` });
      continue;
    }
    const key = `${row.proposal}#${row.n}`;
    const entry = vouched.get(key);
    if (entry === undefined) {
      problems.push({ entry: null, checkpoint: null, message: `Comment ${row.n} of proposal ${row.proposal} (by "${row.actor}") is stored but no entry of the log made it: it was added in the database. ${restore}` });
    } else if (commentRowSha256(row) !== entry.sha) {
      problems.push({ entry: entry.entry, checkpoint: null, message: `Comment ${row.n} of proposal ${row.proposal}: its stored row (author, text, time or revision) is not the one entry ${entry.entry} vouches for: it was edited in the database. ${restore}` });
    }
    vouched.delete(key);
  }
  for (const [key, entry] of vouched) {
    const at = key.lastIndexOf('#');
    const [proposal, n] = [key.slice(0, at), key.slice(at + 1)];
    problems.push({ entry: entry.entry, checkpoint: null, message: `Comment ${n} of proposal ${proposal}, made by entry ${entry.entry}, is missing from the comments table: it was deleted in the database. ${restore}` });
  }
  return problems;
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A checkpoint file that cannot be read or parsed (the message names the file and line). */
export class CheckpointFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFileError';
  }
}

/**
 * The checkpoints of a file someone kept: one checkpoint as JSON, a JSON array of them (an
 * export's checkpoints.json), or a witness file (one JSON checkpoint per line, as
 * `arbiter serve --audit-witness` appends them). Missing file: null.
 */
export function readCheckpointFile(file: string): Checkpoint[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointFileError(`${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const asCheckpoint = (value: unknown, where: string): Checkpoint => {
    const c = record(value);
    if (typeof c['size'] !== 'number' || typeof c['root'] !== 'string' || typeof c['time'] !== 'string' || typeof c['signature'] !== 'string' || typeof c['publicKey'] !== 'string') {
      throw new CheckpointFileError(`${where}: expected a checkpoint {size, root, time, signature, publicKey}`);
    }
    return { size: c['size'], root: c['root'], time: c['time'], signature: c['signature'], publicKey: c['publicKey'] };
  };
  try {
    const whole: unknown = JSON.parse(text);
    return Array.isArray(whole) ? whole.map((c, i) => asCheckpoint(c, `${file}: [${i}]`)) : [asCheckpoint(whole, file)];
  } catch (error) {
    if (error instanceof CheckpointFileError) throw error;
  }
  const checkpoints: Checkpoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CheckpointFileError(`${file}:${i + 1}: not JSON; expected one checkpoint per line (or one JSON checkpoint, or an array)`);
    }
    checkpoints.push(asCheckpoint(value, `${file}:${i + 1}`));
  });
  return checkpoints;
}
