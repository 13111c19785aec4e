import { describe, expect, it } from 'vitest';
import {
  checkpointMessage,
  generateAuditKey,
  signCheckpoint,
  verifyAuditLog,
  verifyCheckpointSignature,
  type AuditEntry,
  type AuditVerification,
  type Checkpoint,
} from './audit-log.js';
import { canonicalJson } from './canonical-json.js';
import { leafHash, merkleRoot } from './merkle.js';

const KEY = generateAuditKey();
const OTHER_KEY = generateAuditKey();
const ROOT = 'ab'.repeat(32);
const TIME = '2025-01-31T12:00:00.000Z';

/** The time the checkpoint of `size` entries was signed: one minute per batch. */
const timeAt = (size: number): string => `2025-01-31T12:${String(size).padStart(2, '0')}:00.000Z`;

const ENTRY_COUNT = 20;
/** Checkpoints after each batch of 4 appends, as the server signs them. */
const CHECKPOINT_SIZES = [4, 8, 12, 16, 20];

interface Log {
  entries: AuditEntry[];
  checkpoints: Checkpoint[];
  storedLeafHashes: string[];
}

function entryText(index: number): string {
  return canonicalJson({
    kind: 'vote',
    proposal: `p-${Math.floor(index / 3)}`,
    by: `lead-${index}`,
    vote: 'approve',
  });
}

/** A log of 20 entries with a checkpoint signed by KEY after every 4. */
function buildLog(): Log {
  const entries = Array.from({ length: ENTRY_COUNT }, (_, index) => ({ index, text: entryText(index) }));
  const leaves = entries.map((entry) => leafHash(entry.text));
  const checkpoints = CHECKPOINT_SIZES.map((size) =>
    signCheckpoint(KEY.privateKeyPem, size, merkleRoot(leaves, size).toString('hex'), timeAt(size)),
  );
  return { entries, checkpoints, storedLeafHashes: leaves.map((leaf) => leaf.toString('hex')) };
}

/** Verifies with the log's key, from the entries and checkpoints only. */
function verify(log: Pick<Log, 'entries' | 'checkpoints'>): AuditVerification {
  return verifyAuditLog({ entries: log.entries, checkpoints: log.checkpoints, publicKey: KEY.publicKey });
}

/** Verifies with the log's key, also given the leaf hashes stored beside the entries. */
function verifyWithStoredHashes(log: Log): AuditVerification {
  return verifyAuditLog({ ...log, publicKey: KEY.publicKey });
}

/** The log with entry `index` replaced by another canonical entry (what a careful forger writes). */
function withEditedEntry(log: Log, index: number): Log {
  const entries = log.entries.map((entry) =>
    entry.index === index
      ? { index, text: canonicalJson({ kind: 'vote', by: `lead-${index}`, vote: 'reject' }) }
      : entry,
  );
  return { ...log, entries };
}

/** Removes whole rows (entry and its stored hash) at the given positions. */
function withoutRows(log: Log, ...positions: number[]): Log {
  const keep = (_: unknown, position: number): boolean => !positions.includes(position);
  return { ...log, entries: log.entries.filter(keep), storedLeafHashes: log.storedLeafHashes.filter(keep) };
}

function withCheckpoint(log: Log, position: number, change: (c: Checkpoint) => Checkpoint): Log {
  return { ...log, checkpoints: log.checkpoints.map((c, i) => (i === position ? change(c) : c)) };
}

const messages = (result: AuditVerification): string[] => result.problems.map((problem) => problem.message);

describe('checkpoints', () => {
  it('sign the canonical JSON of size, root and time', () => {
    expect(checkpointMessage(12, ROOT, TIME)).toBe(`{"root":"${ROOT}","size":12,"time":"${TIME}"}`);
  });

  it('verify with the signing key and carry it as 32 raw bytes', () => {
    const checkpoint = signCheckpoint(KEY.privateKeyPem, 12, ROOT, TIME);
    expect(checkpoint).toMatchObject({ size: 12, root: ROOT, time: TIME, publicKey: KEY.publicKey });
    expect(Buffer.from(KEY.publicKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(checkpoint.signature, 'base64')).toHaveLength(64);
    expect(verifyCheckpointSignature(checkpoint)).toBe(true);
    expect(verifyCheckpointSignature(checkpoint, KEY.publicKey)).toBe(true);
  });

  it('fail when any signed field changes', () => {
    const checkpoint = signCheckpoint(KEY.privateKeyPem, 12, ROOT, TIME);
    expect(verifyCheckpointSignature({ ...checkpoint, size: 13 })).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, root: 'cd'.repeat(32) })).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, time: '2025-01-31T12:00:01.000Z' })).toBe(false);
    expect(
      verifyCheckpointSignature({ ...checkpoint, signature: flipSignatureBit(checkpoint.signature) }),
    ).toBe(false);
  });

  it('fail for another trusted key, whichever key the checkpoint names', () => {
    const checkpoint = signCheckpoint(OTHER_KEY.privateKeyPem, 12, ROOT, TIME);
    expect(verifyCheckpointSignature(checkpoint)).toBe(true); // integrity only: it names its own key
    expect(verifyCheckpointSignature(checkpoint, KEY.publicKey)).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, publicKey: KEY.publicKey }, KEY.publicKey)).toBe(false);
    // Signed by the trusted key but naming another: the checkpoint's own claim is wrong, so it fails.
    const misnamed = { ...signCheckpoint(KEY.privateKeyPem, 12, ROOT, TIME), publicKey: OTHER_KEY.publicKey };
    expect(verifyCheckpointSignature(misnamed, KEY.publicKey)).toBe(false);
  });

  it('fail, without throwing, on malformed text', () => {
    const checkpoint = signCheckpoint(KEY.privateKeyPem, 12, ROOT, TIME);
    // Same bytes under Buffer's lenient decoding (only the unused padding bits change): still refused.
    expect(
      verifyCheckpointSignature({ ...checkpoint, signature: changePaddingBits(checkpoint.signature) }),
    ).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, signature: '!!!' })).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, signature: '' })).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, publicKey: '' }, '')).toBe(false);
    expect(verifyCheckpointSignature({ ...checkpoint, publicKey: 'AAAA' }, 'AAAA')).toBe(false);
  });

  it('are never signed with malformed fields', () => {
    expect(() => signCheckpoint(KEY.privateKeyPem, -1, ROOT, TIME)).toThrow(RangeError);
    expect(() => signCheckpoint(KEY.privateKeyPem, 1, 'AB'.repeat(32), TIME)).toThrow(RangeError);
    expect(() => signCheckpoint(KEY.privateKeyPem, 1, ROOT, '2025-01-31 12:00')).toThrow(RangeError);
  });
});

describe('verifyAuditLog', () => {
  it('accepts an untouched log and reports its root', () => {
    const log = buildLog();
    const result = verify(log);
    expect(result).toEqual({
      ok: true,
      entries: 20,
      checkpoints: 5,
      root: log.checkpoints[4]?.root,
      firstBadEntry: null,
      problems: [],
    });
    expect(verifyWithStoredHashes(log).ok).toBe(true);
  });

  it('refuses entries appended after the last checkpoint unless the caller accepts them', () => {
    const log = buildLog();
    const entries = [...log.entries, { index: 20, text: entryText(20) }, { index: 21, text: entryText(21) }];
    const refused = verify({ ...log, entries });
    expect(refused.ok).toBe(false);
    expect(refused.firstBadEntry).toBe(20);
    expect(refused.problems.map((p) => p.message)).toEqual([expect.stringContaining('Entries 20..21 are not covered by any signed checkpoint')]);
    expect(verifyAuditLog({ entries, checkpoints: log.checkpoints, publicKey: KEY.publicKey, allowUnsignedTail: true }).ok).toBe(true);
  });

  it('refuses a log without any checkpoint', () => {
    const log = buildLog();
    const result = verifyAuditLog({ entries: log.entries, checkpoints: [], publicKey: KEY.publicKey, allowUnsignedTail: true });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.message)).toEqual([expect.stringContaining('The log has no signed checkpoint')]);
    expect(verifyAuditLog({ entries: log.entries, checkpoints: [], publicKey: KEY.publicKey, allowUnsignedTail: true, allowNoCheckpoint: true }).ok).toBe(true);
  });

  it('tells deleted checkpoints from the leaf hashes stored with them', () => {
    const log = buildLog();
    const storedLeafHashes = log.entries.map((entry) => leafHash(entry.text).toString('hex'));
    const result = verifyAuditLog({ entries: log.entries, checkpoints: log.checkpoints.slice(0, 2), publicKey: KEY.publicKey, storedLeafHashes, allowUnsignedTail: true });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.message)).toEqual([expect.stringContaining(`Checkpoints were deleted: leaf hashes are stored for 20 entries`)]);
  });

  it('detects a tail cut off together with its checkpoints against a checkpoint kept elsewhere', () => {
    const log = buildLog();
    const kept = [{ checkpoint: log.checkpoints[4]!, from: 'witness.jsonl' }];
    expect(verifyAuditLog({ ...log, publicKey: KEY.publicKey, kept }).ok).toBe(true);
    const size = log.checkpoints[2]!.size;
    const cut = verifyAuditLog({ entries: log.entries.slice(0, size), checkpoints: log.checkpoints.slice(0, 3), publicKey: KEY.publicKey, kept });
    expect(cut.ok).toBe(false);
    expect(cut.problems.map((p) => p.message)).toEqual([expect.stringContaining(`The log was truncated: The checkpoint kept in witness.jsonl (size 20`)]);
    const forged = verifyAuditLog({ ...log, publicKey: KEY.publicKey, kept: [{ checkpoint: { ...log.checkpoints[4]!, root: ROOT }, from: 'copy.json' }] });
    expect(forged.problems.map((p) => p.message)).toEqual([expect.stringContaining('is not validly signed')]);
  });

  it('names an edited entry at the start of a batch', () => {
    const result = verify(withEditedEntry(buildLog(), 8));
    expect(result.ok).toBe(false);
    expect(result.firstBadEntry).toBe(8);
    expect(result.problems[0]).toEqual({
      entry: 8,
      checkpoint: 2,
      message: `Entries 8..11 differ from the checkpoint of size 12 signed at ${timeAt(12)}; first bad entry 8. Entries were edited, deleted, inserted or reordered since they were signed: restore them from a backup or an export.`,
    });
    // Later checkpoints cover the same change.
    expect(result.problems.map((p) => [p.entry, p.checkpoint])).toEqual([
      [8, 2],
      [8, 3],
      [8, 4],
    ]);
  });

  it('narrows an edit inside a batch to the batch, or to the entry when hashes were stored', () => {
    const log = withEditedEntry(buildLog(), 10);
    // The checkpoints alone prove entries 0..7 and that something in 8..11 changed.
    expect(verify(log).firstBadEntry).toBe(8);
    // The stored hashes reproduce the signed roots, so they are the signed leaves: entry 10 is exact.
    const result = verifyWithStoredHashes(log);
    expect(result.firstBadEntry).toBe(10);
    expect(result.problems[0]?.message).toBe(
      'Entry 10 was edited: its text no longer hashes to the leaf hash stored with it (or that stored hash was changed). Restore it from a backup or an export.',
    );
    expect(result.problems[1]?.message).toMatch(
      /^Entries 8\.\.11 differ from the checkpoint of size 12 .*; first bad entry 10\./,
    );
  });

  it('names an entry whose text is no longer canonical JSON', () => {
    const log = buildLog();
    const entries = log.entries.map((entry) =>
      entry.index === 13 ? { index: 13, text: JSON.stringify(JSON.parse(entry.text), null, 1) } : entry,
    );
    const result = verify({ ...log, entries });
    expect(result.firstBadEntry).toBe(12);
    expect(messages(result)).toContain(
      'Entry 13 is not in canonical JSON form (sorted keys, no spaces), so it was changed after it was written. Restore it from a backup or an export.',
    );
    const broken = log.entries.map((entry) => (entry.index === 13 ? { index: 13, text: '{"kind":' } : entry));
    expect(messages(verify({ ...log, entries: broken }))).toContainEqual(
      expect.stringMatching(/^Entry 13 is not valid JSON/),
    );
  });

  it('names an entry deleted from the middle', () => {
    const result = verify(withoutRows(buildLog(), 8));
    expect(result.firstBadEntry).toBe(8);
    expect(result.problems[0]).toEqual({
      entry: 8,
      checkpoint: null,
      message: 'Entry 8 is missing (deleted?). Restore it from a backup or an export.',
    });
    expect(messages(result)).toContainEqual(
      expect.stringMatching(/^Entries 8\.\.11 differ from the checkpoint of size 12/),
    );
    // 19 entries are left under a checkpoint of 20.
    expect(messages(result)).toContainEqual(
      expect.stringMatching(/covers 20 entries but only 19 are stored/),
    );
  });

  it('names deleted entries inside a batch, and the batch as the first bad entry', () => {
    const log = withoutRows(buildLog(), 10, 11);
    const result = verify(log);
    expect(result.firstBadEntry).toBe(8); // entries 8 and 9 are no longer proven by any checkpoint
    // Whole rows went, stored hashes with them: those no longer match the signed roots, so no help.
    expect(verifyWithStoredHashes(log).firstBadEntry).toBe(8);
    expect(result.problems.find((p) => p.checkpoint === null)).toEqual({
      entry: 10,
      checkpoint: null,
      message: 'Entries 10..11 are missing (deleted?). Restore them from a backup or an export.',
    });
  });

  it('names the last entry when it is deleted', () => {
    const result = verify(withoutRows(buildLog(), 19));
    expect(result.firstBadEntry).toBe(19);
    expect(result.problems).toEqual([
      {
        entry: 19,
        checkpoint: 4,
        message: `The log was truncated: checkpoint 4 (signed at ${timeAt(20)}) covers 20 entries but only 19 are stored, so entry 19 is missing (or earlier entries were deleted). Restore them from a backup or an export.`,
      },
    ]);
  });

  it('names the first of two swapped entries', () => {
    const log = buildLog();
    const entries = [...log.entries];
    [entries[12], entries[13]] = [entries[13] as AuditEntry, entries[12] as AuditEntry];
    const result = verify({ ...log, entries });
    expect(result.firstBadEntry).toBe(12);
    expect(result.problems[0]).toEqual({
      entry: 12,
      checkpoint: null,
      message:
        'Entries out of order: entry 12 comes after entry 13 (at position 13). Entries must be stored in index order; restore the order from a backup or an export.',
    });
    expect(messages(result)).toContainEqual(
      expect.stringMatching(/^Entries 12\.\.15 differ from the checkpoint of size 16/),
    );
  });

  it('finds two texts swapped under unchanged indexes through the checkpoint', () => {
    const log = buildLog();
    const entries = log.entries.map((entry) =>
      entry.index === 12 || entry.index === 13
        ? { index: entry.index, text: entryText(25 - entry.index) }
        : entry,
    );
    const result = verify({ ...log, entries });
    expect(result.firstBadEntry).toBe(12);
    expect(result.problems).toHaveLength(2); // checkpoints of size 16 and 20
  });

  it('names a repeated entry', () => {
    const log = buildLog();
    const entries = [...log.entries.slice(0, 6), log.entries[5] as AuditEntry, ...log.entries.slice(6)];
    const result = verify({ ...log, entries });
    expect(result.firstBadEntry).toBe(4);
    expect(messages(result)).toContain(
      'Entries out of order: entry 5 appears more than once (again at position 6). Keep the copy whose text matches the checkpoints and remove the other.',
    );
  });

  it('names the first missing entry when the tail is truncated', () => {
    const log = buildLog();
    const result = verify({ ...log, entries: log.entries.slice(0, 14) });
    expect(result.firstBadEntry).toBe(14);
    expect(result.problems.map((p) => [p.entry, p.checkpoint])).toEqual([
      [14, 3],
      [14, 4],
    ]);
    expect(result.problems[0]?.message).toMatch(
      /^The log was truncated: checkpoint 3 .* covers 16 entries but only 14 are stored/,
    );
  });

  it('names a checkpoint whose signature was altered, and no entry', () => {
    const log = withCheckpoint(buildLog(), 2, (c) => ({ ...c, signature: flipSignatureBit(c.signature) }));
    const result = verify(log);
    expect(result).toMatchObject({ ok: false, firstBadEntry: null });
    expect(result.problems).toEqual([
      {
        entry: null,
        checkpoint: 2,
        message: `Checkpoint 2 (size 12, signed at ${timeAt(12)}) has an invalid signature: its size, root, time or signature was changed after signing. Restore the checkpoint from a backup or an export.`,
      },
    ]);
  });

  it('names a checkpoint whose root was altered, and no entry', () => {
    const log = withCheckpoint(buildLog(), 3, (c) => ({ ...c, root: 'cd'.repeat(32) }));
    const result = verify(log);
    expect(result).toMatchObject({ ok: false, firstBadEntry: null });
    expect(result.problems.map((p) => [p.entry, p.checkpoint])).toEqual([[null, 3]]);
    expect(result.problems[0]?.message).toMatch(/^Checkpoint 3 \(size 16, .*\) has an invalid signature/);
  });

  it('names a checkpoint signed by another key', () => {
    const forged = (c: Checkpoint): Checkpoint =>
      signCheckpoint(OTHER_KEY.privateKeyPem, c.size, c.root, c.time);
    const result = verify(withCheckpoint(buildLog(), 1, forged));
    expect(result).toMatchObject({ ok: false, firstBadEntry: null });
    expect(result.problems).toEqual([
      {
        entry: null,
        checkpoint: 1,
        message: `Checkpoint 1 (size 8, signed at ${timeAt(8)}) was signed by another key (${OTHER_KEY.publicKey}), not the log's key (${KEY.publicKey}): it was not made by this server. Remove it, or check which key this log should be verified with.`,
      },
    ]);
  });

  it('does not let a forger re-sign edited entries with their own key', () => {
    const log = withEditedEntry(buildLog(), 3);
    const leaves = log.entries.map((entry) => leafHash(entry.text));
    const checkpoints = CHECKPOINT_SIZES.map((size) =>
      signCheckpoint(OTHER_KEY.privateKeyPem, size, merkleRoot(leaves, size).toString('hex'), timeAt(size)),
    );
    const result = verify({ entries: log.entries, checkpoints });
    expect(result.ok).toBe(false);
    // Five foreign checkpoints, and nothing the log's key signed covers the entries.
    expect(result.problems).toHaveLength(6);
    expect(result.problems.filter((p) => p.message.includes('was signed by another key'))).toHaveLength(5);
    expect(result.problems.filter((p) => p.message.includes('are not covered by any signed checkpoint'))).toHaveLength(1);
  });

  it('names a checkpoint smaller than the one before it', () => {
    const log = buildLog();
    const checkpoints = [...log.checkpoints];
    [checkpoints[1], checkpoints[2]] = [checkpoints[2] as Checkpoint, checkpoints[1] as Checkpoint];
    const result = verify({ ...log, checkpoints });
    expect(result.firstBadEntry).toBeNull();
    expect(result.problems).toEqual([
      {
        entry: null,
        checkpoint: 2,
        message: `Checkpoint 2 (size 8, signed at ${timeAt(8)}) is smaller than checkpoint 1 before it (size 12): a log only grows, so either the checkpoints were reordered or the log was rolled back.`,
      },
    ]);
  });

  it('names a second checkpoint of the same size with another root (the key signed two logs)', () => {
    const log = buildLog();
    const fork = signCheckpoint(KEY.privateKeyPem, 8, 'cd'.repeat(32), timeAt(8));
    const checkpoints = [...log.checkpoints.slice(0, 2), fork, ...log.checkpoints.slice(2)];
    const result = verify({ ...log, checkpoints });
    expect(result.firstBadEntry).toBeNull();
    expect(result.problems.map((p) => [p.entry, p.checkpoint])).toEqual([[null, 2]]);
    expect(result.problems[0]?.message).toMatch(/signed two different logs, so it may be compromised/);
    // Listed before the genuine one, it still does not put the blame on entries.
    const forkFirst = [log.checkpoints[0] as Checkpoint, fork, ...log.checkpoints.slice(1)];
    const reordered = verify({ ...log, checkpoints: forkFirst });
    expect(reordered.problems.map((p) => [p.entry, p.checkpoint])).toEqual([[null, 1]]);
  });

  it('names a malformed checkpoint', () => {
    const log = withCheckpoint(buildLog(), 0, (c) => ({ ...c, root: 'not a hash' }));
    expect(verify(log).problems).toEqual([
      {
        entry: null,
        checkpoint: 0,
        message:
          'Checkpoint 0 is malformed: its root is not a 64-digit lowercase hex hash. Restore it from a backup or an export.',
      },
    ]);
  });

  it('trusts the recomputed leaves, not the stored hashes', () => {
    const log = buildLog();
    const storedLeafHashes = log.storedLeafHashes.map((hash, i) => (i === 6 ? 'ef'.repeat(32) : hash));
    const result = verifyWithStoredHashes({ ...log, storedLeafHashes });
    // The entries still match every signed root; only the stored hash of entry 6 is wrong.
    expect(result.problems.map((p) => [p.entry, p.checkpoint])).toEqual([[6, null]]);
    expect(result.firstBadEntry).toBe(6);
  });
});

/** The base64 signature with one bit of its first byte flipped. */
function flipSignatureBit(signature: string): string {
  const bytes = Buffer.from(signature, 'base64');
  bytes[0] = (bytes[0] as number) ^ 1;
  return bytes.toString('base64');
}

/**
 * The same bytes written differently: a 64-byte signature is 86 base64 digits and "==", and the last
 * digit carries 2 bits of data and 4 unused bits; flipping an unused one changes the text only.
 */
function changePaddingBits(signature: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = signature.length - 3;
  const digit = alphabet.indexOf(signature.charAt(last));
  const changed = `${signature.slice(0, last)}${alphabet.charAt(digit ^ 1)}${signature.slice(last + 1)}`;
  expect(Buffer.from(changed, 'base64').equals(Buffer.from(signature, 'base64'))).toBe(true);
  return changed;
}
