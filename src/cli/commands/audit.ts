// `arbiter audit verify | export | proof`: checking the tamper-evident audit log
// (docs/governance.md, "Audit log") from outside the server. Verification trusts nothing stored
// but the entries' texts and the public key: verifyAuditLog recomputes every leaf from the texts,
// every checkpointed root and every signature, and names the first bad entry.
//
//   verify --data DIR    the database of a server's data directory (stopped or running), the
//                        key from DIR/audit-key.pem
//   verify --export DIR  a folder written by `audit export`, offline
//   export OUTDIR        from --data DIR, or from a server (--server/--token)
//   proof ENTRY          an inclusion proof fetched from a server and checked here
//
// Exit codes (docs/cli.md): 0 verified, 1 the log does not verify (CheckFailed), 2 bad input
// (a missing data directory, database, export file or key).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { verifyAuditLog, verifyCheckpointSignature } from '../../governance/audit-log.js';
import type { AuditEntry, AuditProblem, AuditVerification, Checkpoint } from '../../governance/audit-log.js';
import { leafHash, verifyInclusion } from '../../governance/merkle.js';
import { CheckFailed, UsageError } from '../errors.js';
import { out, request, withConnection } from './client.js';
import { visible } from '../visible.js';
import type { Connection } from './client.js';

const DB_FILE = 'arbiter.db';
const KEY_FILE = 'audit-key.pem';
const EXPORT_FILES = { entries: 'entries.jsonl', checkpoints: 'checkpoints.json', publicKey: 'public-key.txt', leafHashes: 'leaf-hashes.txt', readme: 'README.txt' } as const;
const PAGE = 1000;

/** Everything verifyAuditLog needs, as read from a database, an export or a server. */
interface LogMaterial {
  readonly entries: AuditEntry[];
  readonly checkpoints: Checkpoint[];
  /** The log's public key as found with the log (key file, public-key.txt, the server); null when none. */
  readonly publicKey: string | null;
  /** storedLeafHashes aligned with `entries` (null where none is stored), or undefined when none are known. */
  readonly storedLeafHashes?: (string | null)[];
}

const errorCode = (error: unknown): string => (error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '');

/** A file's text, or a UsageError naming it (exit 2). */
function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read it (${code || String(error)})`;
    throw new UsageError([`${file}: ${why} (${what})`]);
  }
}

function requireDir(dir: string, option: string): void {
  if (!existsSync(dir)) throw new UsageError([`${dir}: no such folder (given as ${option})`]);
  if (!statSync(dir).isDirectory()) throw new UsageError([`${dir}: not a folder (given as ${option})`]);
}

// ------------------------------------------------------------------ reading a log

/**
 * The log of a data directory: events, stored leaves and checkpoints from its database, the key
 * from its PEM file (or --audit-key FILE), and the problems of the rows the log vouches for
 * (policy versions, tokens, proposals: server/audit-check.ts).
 */
async function readDataDir(dir: string, keyNeeded: boolean, database?: string, auditKey?: string): Promise<LogMaterial & { rowProblems: AuditProblem[] }> {
  requireDir(dir, '--data');
  const dbFile = path.join(dir, DB_FILE);
  if (database === undefined && !existsSync(dbFile)) throw new UsageError([`${dbFile}: no such file: ${dir} is not the data directory of an Arbiter server (given as --data)`]);
  // Loaded here, not at the top: the database drivers are not needed by the other commands.
  const { describeStore, isPostgresUrl, openStore } = await import('../../storage/open.js');
  if (database !== undefined && !isPostgresUrl(database)) throw new UsageError([`--database: expected a postgres:// URL, got "${database.slice(0, 100)}"`]);
  const where = describeStore({ data: dir, database });
  const { publicKeyOf } = await import('../../server/audit.js');
  const { checkVouchedRows, readStoredLog, readVouchedRows } = await import('../../server/audit-check.js');
  const keyFile = auditKey ?? path.join(dir, KEY_FILE);
  let publicKey: string | null = null;
  if (keyNeeded || existsSync(keyFile)) {
    const pem = readText(keyFile, "the audit log's signing key, made at the server's first start (--audit-key FILE if it is kept elsewhere)");
    try {
      publicKey = publicKeyOf(pem);
    } catch (error) {
      throw new UsageError([`${keyFile}: not an Ed25519 private key in PEM (${error instanceof Error ? error.message : String(error)})`]);
    }
  }
  const fault = (error: unknown): CheckFailed => new CheckFailed([`${where}: cannot read the audit log: ${error instanceof Error ? error.message : String(error)}`]);
  const store = await openStore({ data: dir, database }).catch((error: unknown) => {
    throw fault(error);
  });
  try {
    const log = await readStoredLog(store);
    const rowProblems = checkVouchedRows(log.events, await readVouchedRows(store));
    return { entries: log.entries, checkpoints: log.checkpoints, publicKey, storedLeafHashes: log.storedLeafHashes, rowProblems };
  } catch (error) {
    throw fault(error);
  } finally {
    await store.close();
  }
}

/** The index an exported line names: its `seq` - 1 when it is a JSON object with one, else its position. */
function indexOfLine(text: string, position: number): number {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'seq' in parsed && Number.isSafeInteger(parsed.seq) && (parsed.seq as number) >= 1) return (parsed.seq as number) - 1;
  } catch {
    // Not JSON: verifyAuditLog reports it; its position is the best name it has.
  }
  return position;
}

/** A folder written by `audit export`. */
function readExport(dir: string): LogMaterial {
  requireDir(dir, '--export');
  const file = (name: string): string => path.join(dir, name);
  const lines = readText(file(EXPORT_FILES.entries), 'the exported entries, one per line').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const entries = lines.map((text, position) => ({ index: indexOfLine(text, position), text }));

  const checkpointsText = readText(file(EXPORT_FILES.checkpoints), 'the exported checkpoints');
  let checkpoints: unknown;
  try {
    checkpoints = JSON.parse(checkpointsText);
  } catch (error) {
    throw new UsageError([`${file(EXPORT_FILES.checkpoints)}: not valid JSON (${error instanceof Error ? error.message : String(error)})`]);
  }
  if (!Array.isArray(checkpoints) || !checkpoints.every((c) => typeof c === 'object' && c !== null))
    throw new UsageError([`${file(EXPORT_FILES.checkpoints)}: expected a JSON array of checkpoints {size, root, time, signature, publicKey}`]);

  const publicKey = existsSync(file(EXPORT_FILES.publicKey)) ? readText(file(EXPORT_FILES.publicKey), "the log's public key").trim() : null;

  // Optional: `<index> <hex>` per line, the leaf hashes as stored when exported (they only help name an edited entry).
  let storedLeafHashes: (string | null)[] | undefined;
  if (existsSync(file(EXPORT_FILES.leafHashes))) {
    const byIndex = new Map<number, string>();
    for (const line of readText(file(EXPORT_FILES.leafHashes), 'the exported leaf hashes').split('\n')) {
      const match = /^(\d+) ([0-9a-f]{64})$/.exec(line.trim());
      if (match) byIndex.set(Number(match[1]), match[2]!);
    }
    storedLeafHashes = entries.map((e) => byIndex.get(e.index) ?? null);
  }
  return { entries, checkpoints: checkpoints as Checkpoint[], publicKey, ...(storedLeafHashes ? { storedLeafHashes } : {}) };
}

interface AuditPage {
  entries: { index: number; entry: string }[];
  size: number;
  next: number | null;
}

/** The log as a server serves it: checkpoints (and key) first, then every entry, page by page. */
async function readServer(conn: Connection): Promise<LogMaterial> {
  const { checkpoints, publicKey } = (await request(conn, 'GET', '/v1/audit/checkpoints')) as { checkpoints: Checkpoint[]; publicKey: string };
  const entries: AuditEntry[] = [];
  for (let from: number | null = 0; from !== null; ) {
    const page = (await request(conn, 'GET', `/v1/audit?from=${from}&limit=${PAGE}`)) as AuditPage;
    for (const e of page.entries) entries.push({ index: e.index, text: e.entry });
    const last = page.entries.at(-1);
    from = last === undefined ? null : page.next;
  }
  return { entries, checkpoints: checkpoints.map(({ size, root, time, signature, publicKey: key }) => ({ size, root, time, signature, publicKey: key })), publicKey };
}

// ------------------------------------------------------------------ verify

function trustedKey(material: LogMaterial, pinned: string | undefined, where: string): string {
  if (pinned !== undefined) return pinned.trim();
  if (material.publicKey === null) throw new UsageError([`${where}: no public key found with the log: pass --public-key BASE64`]);
  return material.publicKey;
}

function report(result: AuditVerification, where: string, key: string, material: LogMaterial, kept: number): string[] {
  const signed = material.checkpoints.reduce((max, c) => Math.max(max, typeof c.size === 'number' ? c.size : 0), 0);
  const lines = [`ok: ${result.entries} entries, ${result.checkpoints} checkpoints, root ${result.root}`, `  ${where}, verified with public key ${key}`];
  if (kept > 0) lines.push(`  consistent with ${kept} checkpoint${kept === 1 ? '' : 's'} kept outside the database`);
  if (result.entries > signed) {
    lines.push(`  accepted (--allow-unsigned-tail): ${result.entries - signed} entries after the last checkpoint, which no signature proves:`);
    for (const entry of material.entries.slice(signed)) lines.push(`    entry ${entry.index}: ${entry.text.length > 300 ? `${entry.text.slice(0, 300)}...` : entry.text}`);
  }
  return lines;
}

function failure(result: AuditVerification, where: string): string[] {
  const first = result.problems[0];
  const headline =
    result.firstBadEntry !== null
      ? `first bad entry: ${result.firstBadEntry}`
      : first?.checkpoint !== null && first?.checkpoint !== undefined
        ? `first bad checkpoint: ${first.checkpoint}`
        : 'the log does not verify';
  return [
    `FAILED: the audit log in ${where} does not verify (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}); ${headline}`,
    ...result.problems.map((p) => `  ${p.entry !== null ? `entry ${p.entry}` : p.checkpoint !== null ? `checkpoint ${p.checkpoint}` : 'log'}: ${p.message}`),
  ];
}

// ------------------------------------------------------------------ export

const README = (source: string, publicKey: string, entries: number, checkpoints: number, at: string): string => `Arbiter audit log export
========================

Exported ${at} from ${source}: ${entries} entries, ${checkpoints} signed checkpoints.

Files
  entries.jsonl     one log entry per line, in index order (line 1 is entry 0): the canonical
                    JSON (sorted keys, no spaces) of one event {seq, at, actor, kind, subject,
                    reason, data}; entry index = seq - 1
  checkpoints.json  the signed checkpoints, in the order they were signed:
                    [{size, root, time, signature, publicKey}]
  public-key.txt    the log's Ed25519 public key (raw 32 bytes, base64): ${publicKey}
  leaf-hashes.txt   "<index> <hex>": the leaf hashes stored with the entries when exported
                    (only used to name an edited entry exactly; never trusted)

Verify
  arbiter audit verify --export <this folder> [--public-key <key you trust>]

  Leaves are RFC 6962 hashes of each line's bytes: leaf = SHA-256(0x00 || entry),
  node = SHA-256(0x01 || left || right). For each checkpoint, the Merkle root of its first
  <size> entries must equal its root, and its Ed25519 signature must verify over the UTF-8
  bytes of {"root":"<root>","size":<size>,"time":"<time>"} with the public key.
  public-key.txt travels with the log, so anyone who rewrites the log can rewrite it too:
  compare it with the key published by the server's operators, or pin that key with
  --public-key.
`;

/** Writes the export into a fresh temporary folder beside `outDir`, then renames it into place. */
function writeExport(outDir: string, material: LogMaterial, source: string): void {
  const target = path.resolve(outDir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new UsageError([`${outDir}: exists and is not a folder`]);
    if (readdirSync(target).length > 0) throw new UsageError([`${outDir}: exists and is not empty; give a new or empty folder`]);
  }
  const parent = path.dirname(target);
  if (!existsSync(parent)) throw new UsageError([`${path.dirname(outDir)}: no such folder (the parent of ${outDir})`]);
  const temp = path.join(parent, `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(temp);
  try {
    const key = material.publicKey ?? '';
    writeFileSync(path.join(temp, EXPORT_FILES.entries), material.entries.map((e) => `${e.text}\n`).join(''));
    writeFileSync(path.join(temp, EXPORT_FILES.checkpoints), `${JSON.stringify(material.checkpoints, null, 2)}\n`);
    writeFileSync(path.join(temp, EXPORT_FILES.publicKey), `${key}\n`);
    const hashes = material.storedLeafHashes ?? material.entries.map((e) => leafHash(e.text).toString('hex'));
    writeFileSync(
      path.join(temp, EXPORT_FILES.leafHashes),
      material.entries.map((e, i) => (hashes[i] ? `${e.index} ${hashes[i]}\n` : '')).join(''),
    );
    writeFileSync(path.join(temp, EXPORT_FILES.readme), README(source, key, material.entries.length, material.checkpoints.length, new Date().toISOString()));
    if (existsSync(target)) rmdirSync(target); // empty (checked above)
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}

// ------------------------------------------------------------------ inclusion proofs

export interface InclusionCheck {
  readonly entry: number;
  readonly text: string;
  readonly checkpoint: Checkpoint;
  readonly proof: string[];
  /** The checkpoint's signature verified with the trusted key. */
  readonly signed: boolean;
  /** The proof shows the entry's leaf in the checkpoint's root. */
  readonly included: boolean;
  readonly publicKey: string;
}

/**
 * Fetches entry `entry`, the signed checkpoint of `size` entries (default: the latest), and
 * the proof, and checks here that the checkpoint is signed by the log's key and that the proof
 * puts the entry's leaf under its root. `proof` may be given (a receipt's) to skip fetching it.
 */
export async function checkInclusion(conn: Connection, entry: number, options: { size?: number; root?: string; proof?: string[]; publicKey?: string } = {}): Promise<InclusionCheck> {
  // The latest checkpoint is asked for first: asking signs one when entries are not yet covered.
  const latest = options.size === undefined ? ((await request(conn, 'GET', '/v1/audit/checkpoint')) as Checkpoint) : null;
  const { checkpoints, publicKey: served } = (await request(conn, 'GET', '/v1/audit/checkpoints')) as { checkpoints: Checkpoint[]; publicKey: string };
  const size = options.size ?? latest?.size ?? 0;
  const checkpoint = [...checkpoints].reverse().find((c) => c.size === size && (options.root === undefined || c.root === options.root));
  if (checkpoint === undefined)
    throw new CheckFailed([`no signed checkpoint of size ${size}${options.root ? ` with root ${options.root}` : ''} (sizes signed: ${[...new Set(checkpoints.map((c) => c.size))].join(', ') || 'none'})`]);
  const proof = options.proof ?? ((await request(conn, 'GET', `/v1/audit/proof/inclusion/${entry}?size=${size}`)) as { proof: string[] }).proof;
  const page = (await request(conn, 'GET', `/v1/audit?from=${entry}&limit=1`)) as AuditPage;
  const item = page.entries[0];
  if (item === undefined || item.index !== entry) throw new CheckFailed([`the server returned no entry ${entry}`]);
  const publicKey = options.publicKey?.trim() ?? served;
  const signed = verifyCheckpointSignature(checkpoint, publicKey);
  const hex = /^[0-9a-f]{64}$/;
  const included =
    proof.every((h) => hex.test(h)) &&
    hex.test(checkpoint.root) &&
    verifyInclusion(
      leafHash(item.entry),
      entry,
      checkpoint.size,
      proof.map((h) => Buffer.from(h, 'hex')),
      Buffer.from(checkpoint.root, 'hex'),
    );
  return { entry, text: item.entry, checkpoint, proof, signed, included, publicKey };
}

/** What is wrong with a check, one line each (empty: it holds). */
export function inclusionProblems(check: InclusionCheck): string[] {
  return [
    ...(check.signed ? [] : [`the checkpoint of size ${check.checkpoint.size} (signed at ${check.checkpoint.time}) does not carry a valid signature by ${check.publicKey}`]),
    ...(check.included ? [] : [`the proof (${check.proof.length} hashes) does not show entry ${check.entry} in the checkpoint of size ${check.checkpoint.size} (root ${check.checkpoint.root})`]),
  ];
}

// ------------------------------------------------------------------ commands

const count = (value: string, option: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError([`${option}: expected a whole number from 0, got "${value}"`]);
  return n;
};

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log: verify it, export it, check inclusion proofs');

  audit
    .command('verify')
    .description('recompute every leaf from the stored entries, every checkpointed root and signature, and the rows the log vouches for; exit 1 naming the first bad entry')
    .option('--data <dir>', "a server's data directory (stopped or running): its database and audit-key.pem (default: none; give --data or --export)")
    .option('--export <dir>', 'a folder written by `arbiter audit export`, verified offline (default: none)')
    .option('--database <url>', 'with --data: the PostgreSQL database of a server started with --database (default: DIR/arbiter.db)')
    .option('--audit-key <file>', "with --data: the server's signing key when kept outside the data directory (default: DIR/audit-key.pem)")
    .option('--public-key <base64>', "the log's Ed25519 public key, given out of band (default: from the key file with --data, from public-key.txt with --export)")
    .option('--checkpoint <file>', 'also verify against checkpoints kept outside the database: one checkpoint as JSON, a JSON array, or a witness file of JSON lines; repeatable (default: none)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--allow-unsigned-tail', 'accept (and list) entries after the last signed checkpoint instead of failing (default: fail)', false)
    .option('--json', 'print the verification as JSON', false)
    .action(async (flags: { data?: string; database?: string; export?: string; publicKey?: string; auditKey?: string; checkpoint: string[]; allowUnsignedTail: boolean; json: boolean }) => {
      if ((flags.data === undefined) === (flags.export === undefined)) throw new UsageError(['give exactly one of --data DIR (a data directory) or --export DIR (an export)']);
      const where = flags.data !== undefined ? `data directory ${flags.data}` : `export ${flags.export ?? ''}`;
      if (flags.database !== undefined && flags.data === undefined) throw new UsageError(['--database goes with --data DIR (the data directory holds the signing key)']);
      if (flags.auditKey !== undefined && flags.data === undefined) throw new UsageError(['--audit-key goes with --data DIR']);
      const { CheckpointFileError, readCheckpointFile } = await import('../../server/audit-check.js');
      const kept: { checkpoint: Checkpoint; from: string }[] = [];
      for (const file of flags.checkpoint) {
        let checkpoints: Checkpoint[] | null;
        try {
          checkpoints = readCheckpointFile(file);
        } catch (error) {
          if (error instanceof CheckpointFileError) throw new UsageError([`--checkpoint ${error.message}`]);
          throw error;
        }
        if (checkpoints === null) throw new UsageError([`${file}: no such file (given as --checkpoint)`]);
        if (checkpoints.length === 0) throw new UsageError([`${file}: holds no checkpoint (given as --checkpoint)`]);
        checkpoints.forEach((checkpoint, i) => kept.push({ checkpoint, from: checkpoints.length === 1 ? file : `${file} (#${i + 1})` }));
      }
      const material = flags.data !== undefined ? await readDataDir(flags.data, flags.publicKey === undefined, flags.database, flags.auditKey) : { ...readExport(flags.export ?? ''), rowProblems: [] };
      const key = trustedKey(material, flags.publicKey, where);
      const logResult = verifyAuditLog({ entries: material.entries, checkpoints: material.checkpoints, publicKey: key, allowUnsignedTail: flags.allowUnsignedTail, kept, ...(material.storedLeafHashes ? { storedLeafHashes: material.storedLeafHashes } : {}) });
      const problems = [...logResult.problems, ...material.rowProblems].sort((a, b) => (a.entry ?? Number.POSITIVE_INFINITY) - (b.entry ?? Number.POSITIVE_INFINITY) || (a.checkpoint ?? -1) - (b.checkpoint ?? -1));
      const result: AuditVerification = { ...logResult, ok: problems.length === 0, problems, firstBadEntry: problems[0]?.entry ?? null };
      if (flags.json) out(JSON.stringify({ ...result, publicKey: key }, null, 2));
      if (!result.ok) throw new CheckFailed(failure(result, where));
      if (!flags.json) out(report(result, where, key, material, kept.length).join('\n'));
    });

  withConnection(
    audit
      .command('export')
      .description('write the log, its checkpoints and public key as files that `arbiter audit verify --export` checks offline')
      .argument('<outdir>', 'a new or empty folder (written whole or not at all)')
      .option('--data <dir>', "read a server's data directory instead of asking a server (default: ask --server)")
      .option('--database <url>', 'with --data: the PostgreSQL database of a server started with --database (default: DIR/arbiter.db)'),
  ).action(async (outDir: string, flags: Connection & { data?: string; database?: string }) => {
    if (flags.database !== undefined && flags.data === undefined) throw new UsageError(['--database goes with --data DIR (the data directory holds the signing key)']);
    const material = flags.data !== undefined ? await readDataDir(flags.data, true, flags.database) : await readServer(flags);
    const source = flags.data !== undefined ? `data directory ${flags.data}` : (flags.server || process.env['ARBITER_SERVER'] || 'http://127.0.0.1:7420');
    writeExport(outDir, material, source);
    const summary = { out: outDir, entries: material.entries.length, checkpoints: material.checkpoints.length, publicKey: material.publicKey };
    out(
      flags.json
        ? JSON.stringify(summary, null, 2)
        : `exported ${summary.entries} entries and ${summary.checkpoints} checkpoints from ${source} to ${outDir}\n  verify with: arbiter audit verify --export ${outDir}`,
    );
  });

  withConnection(
    audit
      .command('proof')
      .description("fetch an entry's inclusion proof from the server and check it here against a signed checkpoint")
      .argument('<entry>', 'entry index (from 0)')
      .option('--size <n>', 'the checkpoint (tree size) to prove inclusion in (default: the latest checkpoint)')
      .option('--public-key <base64>', "the log's Ed25519 public key, given out of band (default: the key the server reports)"),
  ).action(async (entryText: string, flags: Connection & { size?: string; publicKey?: string }) => {
    const entry = count(entryText, 'ENTRY');
    const check = await checkInclusion(flags, entry, {
      ...(flags.size !== undefined ? { size: count(flags.size, '--size') } : {}),
      ...(flags.publicKey !== undefined ? { publicKey: flags.publicKey } : {}),
    });
    const problems = inclusionProblems(check);
    if (flags.json) out(JSON.stringify({ ...check, ok: problems.length === 0 }, null, 2));
    if (problems.length > 0) throw new CheckFailed([`FAILED: entry ${entry}:`, ...problems.map((p) => `  ${p}`)]);
    if (flags.json) return;
    const c = check.checkpoint;
    out(
      [
        `entry ${entry} is included in the checkpoint of size ${c.size} (root ${c.root})`,
        `  checkpoint signed at ${c.time} by ${check.publicKey}; audit path of ${check.proof.length} hashes checked here`,
        `  entry: ${visible(check.text)}`,
      ].join('\n'),
    );
  });
}
