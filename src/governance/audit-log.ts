// Signing and offline verification of the audit log (governance.md, "Audit log").
//
// The log is a list of canonical JSON entries; entry i is leaf i of an RFC 6962 Merkle tree
// (./merkle.ts). After each append batch, and at least hourly, the server signs a checkpoint: the tree
// size, its root and the time, with an Ed25519 key kept in the data directory. `verifyAuditLog` is what
// `arbiter audit verify` runs: it trusts nothing stored but the entries' texts and the public key, and
// recomputes every leaf, every checkpointed root and every signature.
//
// Pure apart from node:crypto: no files, no clock (the caller passes times in).

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { HASH_BYTES, MerkleAccumulator, leafHash } from './merkle.js';

/** One log entry: index from 0 (leaf position), and its canonical JSON text exactly as stored. */
export interface AuditEntry {
  readonly index: number;
  readonly text: string;
}

/**
 * A signed checkpoint. root: hex; time: ISO 8601 UTC; signature: base64 Ed25519 over
 * checkpointMessage(); publicKey: base64 of the raw 32-byte Ed25519 key.
 */
export interface Checkpoint {
  readonly size: number;
  readonly root: string;
  readonly time: string;
  readonly signature: string;
  readonly publicKey: string;
}

/** One thing wrong with the log. entry: the entry it names (leaf index); checkpoint: position in the list given. */
export interface AuditProblem {
  readonly entry: number | null;
  readonly checkpoint: number | null;
  readonly message: string;
}

export interface AuditVerification {
  readonly ok: boolean;
  /** Number of entries given. */
  readonly entries: number;
  /** Number of checkpoints given. */
  readonly checkpoints: number;
  /** Hex root recomputed over all entries' texts, in the order given. */
  readonly root: string;
  /** First problem, in log order: the smallest entry index any problem names; null when none names an entry. */
  readonly firstBadEntry: number | null;
  readonly problems: readonly AuditProblem[];
}

/**
 * The bytes a checkpoint signature covers: the UTF-8 of canonicalJson({ size, root, time }), i.e.
 * `{"root":"<hex>","size":<n>,"time":"<ISO 8601>"}`. Anyone can rebuild it from the checkpoint's fields,
 * so a checkpoint can be checked without this code.
 */
export function checkpointMessage(size: number, root: string, time: string): string {
  return canonicalJson({ size, root, time });
}

/** A fresh Ed25519 key pair: the private key as PKCS#8 PEM (kept in the data directory), the public key raw, base64. */
export function generateAuditKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: rawPublicKeyBase64(publicKey),
  };
}

/**
 * Signs the checkpoint (size, root, time) with an Ed25519 private key in PEM.
 * @throws RangeError when size, root or time is malformed (a bug in the caller: nothing bad gets signed).
 */
export function signCheckpoint(privateKeyPem: string, size: number, root: string, time: string): Checkpoint {
  const malformed = checkpointFieldProblem(size, root, time);
  if (malformed !== null) throw new RangeError(`cannot sign a checkpoint whose ${malformed}`);
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `the audit key must be an Ed25519 key, not ${privateKey.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  // Ed25519 signs the message itself, so no digest is named (null).
  const signature = sign(null, Buffer.from(checkpointMessage(size, root, time), 'utf8'), privateKey);
  return {
    size,
    root,
    time,
    signature: signature.toString('base64'),
    publicKey: rawPublicKeyBase64(createPublicKey(privateKey)),
  };
}

/**
 * Whether the checkpoint's signature is valid. With `trustedPublicKey`, the signature must be by that
 * key and the checkpoint must name that key; without it, the checkpoint's own `publicKey` is used,
 * which proves only integrity, not who signed. Never throws: anything malformed is false.
 */
export function verifyCheckpointSignature(c: Checkpoint, trustedPublicKey?: string): boolean {
  const claimedKey = decodeBase64Strict(c.publicKey);
  const trustedKey = trustedPublicKey === undefined ? claimedKey : decodeBase64Strict(trustedPublicKey);
  const signature = decodeBase64Strict(c.signature);
  if (claimedKey === null || trustedKey === null || signature === null) return false;
  if (!claimedKey.equals(trustedKey)) return false;
  if (checkpointFieldProblem(c.size, c.root, c.time) !== null) return false;
  const key = publicKeyFromRaw(trustedKey);
  if (key === null) return false;
  try {
    return verify(null, Buffer.from(checkpointMessage(c.size, c.root, c.time), 'utf8'), key, signature);
  } catch {
    return false; // a signature of the wrong length
  }
}

/**
 * Checks a whole log offline and reports every problem found, each naming the entry or checkpoint to
 * look at.
 *
 * - entries: in the order stored; their indexes must be 0, 1, 2, ... The Merkle tree is built from the
 *   texts in this order.
 * - checkpoints: in the order they were signed (time order); sizes must never decrease.
 * - publicKey: the log's trusted key (raw base64); a checkpoint signed by any other key is bad.
 * - storedLeafHashes: hex leaf hashes as stored beside the entries, storedLeafHashes[i] for entries[i]
 *   (null where none is stored). Only used to point at the exact edited entry: leaves are always
 *   recomputed from the texts.
 *
 * Where a checkpoint's root does not match, the entries since the previous matching checkpoint are all
 * suspect, and the first of them is named. When the stored leaf hashes reproduce that checkpoint's
 * signed root, they are the hashes that were signed, so the entry whose text no longer matches its
 * stored hash is named instead (exact rather than per batch).
 */
export function verifyAuditLog(input: {
  entries: readonly AuditEntry[];
  checkpoints: readonly Checkpoint[];
  publicKey: string;
  storedLeafHashes?: readonly (string | null)[];
  /**
   * Entries after the last signed checkpoint are accepted (the caller checked them some other way);
   * without it they are a problem: anyone who can write the database could have appended them.
   */
  allowUnsignedTail?: boolean;
  /** A log that has no checkpoint yet is fine (a server's first start signs its first one). */
  allowNoCheckpoint?: boolean;
  /** Checkpoints kept outside the database (a witness file, a copy someone kept), each named by where it came from. */
  kept?: readonly { checkpoint: Checkpoint; from: string }[];
}): AuditVerification {
  const { entries, checkpoints, publicKey, storedLeafHashes } = input;
  const problems: AuditProblem[] = [
    ...checkEntryOrder(entries),
    ...checkEntryTexts(entries),
    ...checkCheckpointOrder(checkpoints),
  ];

  const leaves = entries.map((entry) => leafHash(entry.text));
  const stored = storedLeafHashes === undefined ? null : decodeStoredHashes(storedLeafHashes, entries.length);
  if (stored !== null) problems.push(...compareStoredHashes(entries, leaves, stored));

  const signedCheckpoints: IndexedCheckpoint[] = [];
  checkpoints.forEach((checkpoint, position) => {
    const malformed = checkpointFieldProblem(checkpoint.size, checkpoint.root, checkpoint.time);
    if (malformed !== null) {
      problems.push({
        entry: null,
        checkpoint: position,
        message: `Checkpoint ${position} is malformed: its ${malformed}. Restore it from a backup or an export.`,
      });
    } else if (!verifyCheckpointSignature(checkpoint, publicKey)) {
      problems.push({
        entry: null,
        checkpoint: position,
        message: badSignatureMessage(checkpoint, position, publicKey),
      });
    } else {
      signedCheckpoints.push({ checkpoint, position });
    }
  });

  const { root, problems: rootProblems } = compareRoots(leaves, stored, signedCheckpoints);
  problems.push(...rootProblems);
  problems.push(...checkCoverage(entries.length, checkpoints, signedCheckpoints, stored, input.allowUnsignedTail === true, input.allowNoCheckpoint === true));
  problems.push(...checkKept(leaves, input.kept ?? [], publicKey));
  problems.sort(byLogOrder);

  return {
    ok: problems.length === 0,
    entries: entries.length,
    checkpoints: checkpoints.length,
    root: root.toString('hex'),
    firstBadEntry: problems[0]?.entry ?? null, // sorted: the smallest named entry comes first
    problems,
  };
}

interface IndexedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** Position in the list given (the order they were signed). */
  readonly position: number;
}

/**
 * Indexes must read 0, 1, 2, ... in the order given. A number that never appears is missing (deleted);
 * one that appears late, or twice, is out of order.
 */
function checkEntryOrder(entries: readonly AuditEntry[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const present = [...new Set(entries.map((entry) => entry.index))].sort((a, b) => a - b);
  const seen = new Set<number>();
  let expected = 0;
  entries.forEach((entry, position) => {
    const index = entry.index;
    if (!Number.isSafeInteger(index) || index < 0) {
      problems.push({
        entry: position,
        checkpoint: null,
        message: `The entry at position ${position} has index ${String(index)}, which is not a whole number from 0; entries must be numbered 0, 1, 2, ...`,
      });
      return;
    }
    if (seen.has(index)) {
      problems.push({
        entry: index,
        checkpoint: null,
        message: `Entries out of order: entry ${index} appears more than once (again at position ${position}). Keep the copy whose text matches the checkpoints and remove the other.`,
      });
    } else if (index < expected) {
      problems.push({
        entry: index,
        checkpoint: null,
        message: `Entries out of order: entry ${index} comes after entry ${expected - 1} (at position ${position}). Entries must be stored in index order; restore the order from a backup or an export.`,
      });
    } else if (index > expected) {
      // Numbers skipped here that appear later are reported as out of order when they come.
      for (const [first, last] of missingRuns(expected, index, present)) {
        problems.push({
          entry: first,
          checkpoint: null,
          message:
            first === last
              ? `Entry ${first} is missing (deleted?). Restore it from a backup or an export.`
              : `Entries ${first}..${last} are missing (deleted?). Restore them from a backup or an export.`,
        });
      }
    }
    seen.add(index);
    expected = Math.max(expected, index + 1);
  });
  return problems;
}

/** Every text must be canonical JSON: re-encoding what it parses to must give it back byte for byte. */
function checkEntryTexts(entries: readonly AuditEntry[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  entries.forEach((entry, position) => {
    const name = entryName(entry, position);
    let parsed: unknown;
    try {
      parsed = JSON.parse(entry.text);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      problems.push({
        entry: name,
        checkpoint: null,
        message: `Entry ${name} is not valid JSON (${reason}), so it was changed after it was written. Restore it from a backup or an export.`,
      });
      return;
    }
    if (canonicalJson(parsed) !== entry.text) {
      problems.push({
        entry: name,
        checkpoint: null,
        message: `Entry ${name} is not in canonical JSON form (sorted keys, no spaces), so it was changed after it was written. Restore it from a backup or an export.`,
      });
    }
  });
  return problems;
}

function checkCheckpointOrder(checkpoints: readonly Checkpoint[]): AuditProblem[] {
  const problems: AuditProblem[] = [];
  for (let position = 1; position < checkpoints.length; position++) {
    const previous = checkpoints[position - 1] as Checkpoint;
    const current = checkpoints[position] as Checkpoint;
    if (current.size < previous.size) {
      problems.push({
        entry: null,
        checkpoint: position,
        message: `Checkpoint ${position} (size ${current.size}, signed at ${current.time}) is smaller than checkpoint ${position - 1} before it (size ${previous.size}): a log only grows, so either the checkpoints were reordered or the log was rolled back.`,
      });
    }
  }
  return problems;
}

/** Decoded stored hashes, aligned with the entries; null where none is stored or it is not a hash. */
function decodeStoredHashes(stored: readonly (string | null)[], count: number): (Buffer | null)[] {
  return Array.from({ length: count }, (_, i) => {
    const hex = stored[i];
    return typeof hex === 'string' && isHex(hex, HASH_BYTES) ? Buffer.from(hex, 'hex') : null;
  });
}

function compareStoredHashes(
  entries: readonly AuditEntry[],
  leaves: readonly Buffer[],
  stored: readonly (Buffer | null)[],
): AuditProblem[] {
  const problems: AuditProblem[] = [];
  entries.forEach((entry, position) => {
    const storedHash = stored[position];
    if (storedHash !== null && storedHash !== undefined && !storedHash.equals(leaves[position] as Buffer)) {
      const name = entryName(entry, position);
      problems.push({
        entry: name,
        checkpoint: null,
        message: `Entry ${name} was edited: its text no longer hashes to the leaf hash stored with it (or that stored hash was changed). Restore it from a backup or an export.`,
      });
    }
  });
  return problems;
}

/**
 * One pass over the leaves, in checkpoint-size order, comparing each validly signed checkpoint's root
 * with the root recomputed at its size. A mismatch at size N means some entry in K..N-1 differs from
 * what was signed, K being the largest smaller size whose checkpoint matched (entries below K are
 * proven by that checkpoint).
 */
function compareRoots(
  leaves: readonly Buffer[],
  stored: readonly (Buffer | null)[] | null,
  signed: readonly IndexedCheckpoint[],
): { root: Buffer; problems: AuditProblem[] } {
  const problems: AuditProblem[] = [];
  const bySize = [...signed].sort((a, b) => a.checkpoint.size - b.checkpoint.size || a.position - b.position);
  const recomputed = new MerkleAccumulator();
  // The stored hashes' tree, while every one so far is present: if its root matches a signed checkpoint,
  // those stored hashes are the signed ones and pinpoint edited entries.
  let storedTree: MerkleAccumulator | null = stored === null ? null : new MerkleAccumulator();
  let matchedSize = 0;
  const signedRootsBySize = new Map<number, Set<string>>();
  for (const { checkpoint } of signed) {
    const roots = signedRootsBySize.get(checkpoint.size) ?? new Set<string>();
    signedRootsBySize.set(checkpoint.size, roots.add(checkpoint.root));
  }

  const advanceTo = (size: number): void => {
    while (recomputed.size < size) {
      const i = recomputed.size;
      recomputed.push(leaves[i] as Buffer);
      const storedHash = stored?.[i];
      if (storedTree !== null && storedHash) storedTree.push(storedHash);
      else storedTree = null;
    }
  };

  for (const { checkpoint, position } of bySize) {
    const { size, root, time } = checkpoint;
    if (size > leaves.length) {
      const missing =
        size - leaves.length === 1
          ? `entry ${leaves.length} is`
          : `entries ${leaves.length}..${size - 1} are`;
      problems.push({
        entry: leaves.length,
        checkpoint: position,
        message: `The log was truncated: checkpoint ${position} (signed at ${time}) covers ${size} entries but only ${leaves.length} are stored, so ${missing} missing (or earlier entries were deleted). Restore them from a backup or an export.`,
      });
      continue;
    }
    advanceTo(size);
    const recomputedRoot = recomputed.root().toString('hex');
    if (recomputedRoot === root) {
      matchedSize = size;
      continue;
    }
    if (signedRootsBySize.get(size)?.has(recomputedRoot)) {
      // Another validly signed checkpoint of this size matches the entries: the key signed two trees.
      // The entries are not to blame, whichever of the two comes first.
      problems.push({
        entry: null,
        checkpoint: position,
        message: `Checkpoint ${position} (size ${size}, signed at ${time}) has a different root from another validly signed checkpoint of the same size: the log's key signed two different logs, so it may be compromised. Investigate before trusting this log's checkpoints.`,
      });
      continue;
    }
    const signedStoredHashes = storedTree !== null && storedTree.root().toString('hex') === root;
    const firstBad = signedStoredHashes
      ? firstDifference(leaves, stored ?? [], matchedSize, size)
      : matchedSize;
    const suspects =
      matchedSize === size - 1
        ? `Entry ${matchedSize} differs`
        : `Entries ${matchedSize}..${size - 1} differ`;
    problems.push({
      entry: firstBad,
      checkpoint: position,
      message: `${suspects} from the checkpoint of size ${size} signed at ${time}; first bad entry ${firstBad}. Entries were edited, deleted, inserted or reordered since they were signed: restore them from a backup or an export.`,
    });
  }
  advanceTo(leaves.length);
  return { root: recomputed.root(), problems };
}

/**
 * What the checkpoints stored with the log leave unproven: a log without any checkpoint, checkpoints
 * deleted (leaf hashes are stored with each checkpoint in one transaction, so more stored leaves than
 * the last checkpoint covers means later checkpoints were removed), and entries after the last
 * checkpoint, which anyone who can write the database could have appended.
 */
function checkCoverage(
  count: number,
  checkpoints: readonly Checkpoint[],
  signed: readonly IndexedCheckpoint[],
  stored: readonly (Buffer | null)[] | null,
  allowUnsignedTail: boolean,
  allowNoCheckpoint: boolean,
): AuditProblem[] {
  const problems: AuditProblem[] = [];
  if (checkpoints.length === 0 && allowNoCheckpoint) return problems;
  if (checkpoints.length === 0) {
    problems.push({
      entry: null,
      checkpoint: null,
      message: `The log has no signed checkpoint, so nothing proves its ${count} entries: a server signs one at every start and after every change, so the checkpoints were deleted (or this is not a server's log). Verify it against a checkpoint kept outside the database (--checkpoint FILE, the server's --audit-witness file) or restore the database from a backup.`,
    });
  }
  const signedSize = signed.reduce((max, { checkpoint }) => Math.max(max, checkpoint.size), 0);
  const storedLeaves = stored === null ? 0 : stored.filter((h) => h !== null).length;
  if (storedLeaves > signedSize) {
    problems.push({
      entry: signedSize,
      checkpoint: null,
      message: `Checkpoints were deleted: leaf hashes are stored for ${storedLeaves} entries, which the server stores only together with a checkpoint covering them, but the checkpoints left cover ${signedSize}. Verify the log against a checkpoint kept outside the database (--checkpoint FILE) or restore the database from a backup.`,
    });
  }
  if (count > signedSize && !allowUnsignedTail) {
    const range = count - signedSize === 1 ? `Entry ${signedSize} is` : `Entries ${signedSize}..${count - 1} are`;
    problems.push({
      entry: signedSize,
      checkpoint: null,
      message: `${range} not covered by any signed checkpoint: anyone who can write the database could have appended ${count - signedSize === 1 ? 'it' : 'them'}. A server that stopped before signing leaves such a tail; read ${count - signedSize === 1 ? 'it' : 'them'} (arbiter audit verify --allow-unsigned-tail lists the tail) and accept ${count - signedSize === 1 ? 'it' : 'them'} explicitly with --allow-unsigned-tail, or restore the database from a backup.`,
    });
  }
  return problems;
}

/**
 * Checkpoints kept outside the database must be signed by the log's key and prove the first
 * `size` entries: fewer stored entries means the tail was cut off (together with the checkpoints
 * stored in the database, which cannot show it). One pass over the leaves in size order.
 */
function checkKept(leaves: readonly Buffer[], kept: readonly { checkpoint: Checkpoint; from: string }[], publicKey: string): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const valid: { checkpoint: Checkpoint; name: string }[] = [];
  for (const { checkpoint, from } of kept) {
    const name = `The checkpoint kept in ${from} (size ${String(checkpoint.size)}, signed at ${String(checkpoint.time)})`;
    const malformed = checkpointFieldProblem(checkpoint.size, checkpoint.root, checkpoint.time);
    if (malformed !== null) problems.push({ entry: null, checkpoint: null, message: `${name} is malformed: its ${malformed}.` });
    else if (!verifyCheckpointSignature(checkpoint, publicKey)) {
      problems.push({ entry: null, checkpoint: null, message: `${name} is not validly signed by the log's key ${publicKey}: it is not a checkpoint of this log, or it was changed.` });
    } else valid.push({ checkpoint, name });
  }
  valid.sort((a, b) => a.checkpoint.size - b.checkpoint.size);
  const tree = new MerkleAccumulator();
  for (const { checkpoint, name } of valid) {
    if (checkpoint.size > leaves.length) {
      problems.push({
        entry: leaves.length,
        checkpoint: null,
        message: `The log was truncated: ${name} covers ${checkpoint.size} entries but only ${leaves.length} are stored, so entries ${leaves.length}..${checkpoint.size - 1} were removed (and with them any checkpoint in the database that covered them). Restore the database from a backup.`,
      });
      continue;
    }
    while (tree.size < checkpoint.size) tree.push(leaves[tree.size] as Buffer);
    if (tree.root().toString('hex') !== checkpoint.root) {
      problems.push({
        entry: 0,
        checkpoint: null,
        message: `Entries 0..${checkpoint.size - 1} differ from ${name}: the log was rewritten since that checkpoint was kept. Restore the database from a backup.`,
      });
    }
  }
  return problems;
}

/** The first position in from..to-1 whose recomputed leaf differs from the stored (signed) hash. */
function firstDifference(
  leaves: readonly Buffer[],
  stored: readonly (Buffer | null)[],
  from: number,
  to: number,
): number {
  for (let i = from; i < to; i++) {
    const storedHash = stored[i];
    if (storedHash && !storedHash.equals(leaves[i] as Buffer)) return i;
  }
  return from; // unreachable while the roots differ; kept as the safe per-batch answer
}

function badSignatureMessage(checkpoint: Checkpoint, position: number, trustedKey: string): string {
  const name = `Checkpoint ${position} (size ${checkpoint.size}, signed at ${checkpoint.time})`;
  const claimed = decodeBase64Strict(checkpoint.publicKey);
  const trusted = decodeBase64Strict(trustedKey);
  if (claimed !== null && trusted !== null && !claimed.equals(trusted)) {
    return `${name} was signed by another key (${checkpoint.publicKey}), not the log's key (${trustedKey}): it was not made by this server. Remove it, or check which key this log should be verified with.`;
  }
  return `${name} has an invalid signature: its size, root, time or signature was changed after signing. Restore the checkpoint from a backup or an export.`;
}

/** Problems in log order: by entry (entry-less ones last), then by checkpoint. */
function byLogOrder(a: AuditProblem, b: AuditProblem): number {
  const entryA = a.entry ?? Number.POSITIVE_INFINITY;
  const entryB = b.entry ?? Number.POSITIVE_INFINITY;
  if (entryA !== entryB) return entryA < entryB ? -1 : 1;
  return (a.checkpoint ?? -1) - (b.checkpoint ?? -1);
}

/** What is wrong with a checkpoint's signed fields, or null when they are well formed. */
function checkpointFieldProblem(size: unknown, root: unknown, time: unknown): string | null {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    return `size ${String(size)} is not a whole number of entries`;
  }
  if (typeof root !== 'string' || !isHex(root, HASH_BYTES))
    return 'root is not a 64-digit lowercase hex hash';
  if (typeof time !== 'string' || !ISO_UTC.test(time) || Number.isNaN(Date.parse(time))) {
    return `time ${String(time)} is not an ISO 8601 UTC time such as 2025-01-31T12:00:00.000Z`;
  }
  return null;
}

/** ISO 8601 UTC as Date.prototype.toISOString writes it (fraction optional). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The entry's own index when it is a valid one, else its position: the number a user looks up. */
function entryName(entry: AuditEntry, position: number): number {
  return Number.isSafeInteger(entry.index) && entry.index >= 0 ? entry.index : position;
}

function isHex(text: string, bytes: number): boolean {
  return text.length === bytes * 2 && /^[0-9a-f]*$/.test(text);
}

/**
 * Base64 bytes, or null unless `text` is exactly the canonical base64 of those bytes. Buffer.from is
 * lenient (it skips bad characters and ignores padding bits), which would let an edited signature or
 * key text still verify.
 */
function decodeBase64Strict(text: string): Buffer | null {
  if (typeof text !== 'string') return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

function rawPublicKeyBase64(key: KeyObject): string {
  // JWK's x is the raw 32-byte Ed25519 public key (RFC 8037 §2), base64url.
  const { x } = key.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new TypeError('not an Ed25519 public key');
  return Buffer.from(x, 'base64url').toString('base64');
}

function publicKeyFromRaw(raw: Buffer): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
  } catch {
    return null;
  }
}

/**
 * The runs [first, last] of numbers in from..to-1 that are not in `present` (ascending). Costs the
 * present numbers inside the gap, not the gap's width, so a forged huge index stays cheap.
 * Example: from 3, to 10, present [0, 5, 6, 12] -> [[3, 4], [7, 9]].
 */
function missingRuns(from: number, to: number, present: readonly number[]): [number, number][] {
  const result: [number, number][] = [];
  let next = from;
  for (let i = lowerBound(present, from); i < present.length && (present[i] as number) < to; i++) {
    const value = present[i] as number;
    if (value > next) result.push([next, value - 1]);
    next = value + 1;
  }
  if (next < to) result.push([next, to - 1]);
  return result;
}

/** The first position in the ascending list whose value is >= target. */
function lowerBound(sorted: readonly number[], target: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if ((sorted[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  return low;
}
