// The audit log of the live service (docs/governance.md, "Audit log"): every event the store
// appended (governance steps, policy, fleet and token changes, policy activations) is a leaf
// of an RFC 6962 Merkle tree, in `seq` order (leaf index = seq - 1). In the transaction of every
// write that appends (signingStore), and at least hourly, a checkpoint {size, root, time} is signed with the Ed25519 key made at
// first start and kept in the data directory (audit-key.pem, mode 0600).
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { auditEntryText } from '../governance/audit-entry.js';
import { generateAuditKey, signCheckpoint, verifyCheckpointSignature } from '../governance/audit-log.js';
import type { Checkpoint } from '../governance/audit-log.js';
import { consistencyProof, inclusionProof, leafHash, MerkleAccumulator, merkleRoot } from '../governance/merkle.js';
import type { Store, StoredCheckpoint, StoredEvent, StoredToken } from '../storage/port.js';
import { tokenRowSha256 } from '../storage/token-event.js';
import { readCheckpointFile, verifyStore } from './audit-check.js';
import { Witness } from './audit-witness.js';

const HOUR = 3600;
const KEY_FILE = 'audit-key.pem';

/** The raw Ed25519 public key (base64) of a PEM private key. */
export function publicKeyOf(privateKeyPem: string): string {
  const der = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64');
}

/**
 * The signing key: `file` (`--audit-key FILE`, or DATA/audit-key.pem), made (mode 0600) when
 * missing. A key elsewhere than the data directory keeps it from anyone who can read the data
 * directory (jobs, backups); see docs/security.md.
 */
export function loadOrCreateAuditKey(file: string): { privateKeyPem: string; publicKey: string } {
  if (existsSync(file)) {
    const privateKeyPem = readFileSync(file, 'utf8');
    return { privateKeyPem, publicKey: publicKeyOf(privateKeyPem) };
  }
  const key = generateAuditKey();
  writeFileSync(file, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * One installation, one signing key (docs/security.md): every server on a database signs with
 * the key that signed its checkpoints. `storedKey` is the public key of the last stored
 * checkpoint (null: none yet, any key will do). A missing file is refused rather than made, and
 * a file holding another key is refused, both with what to do: a server that signed with its own
 * key would write checkpoints the others (and `audit verify`) cannot verify.
 */
export function checkInstallationKey(file: string, storedKey: string | null, database: string): void {
  if (storedKey === null) return;
  if (!existsSync(file))
    throw new AuditRefusal([
      `${file}: no audit signing key there, and the checkpoints in ${database} are signed by the installation's key (public key ${storedKey}); ` +
        'give every server on this database the same key file: copy the first server\'s (its DATA/audit-key.pem, or the file its --audit-key names) and pass --audit-key FILE',
    ]);
  let mine: string;
  try {
    mine = publicKeyOf(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new AuditRefusal([`${file}: not an Ed25519 private key in PEM (${error instanceof Error ? error.message : String(error)}); give the installation's signing key with --audit-key FILE`]);
  }
  if (mine !== storedKey)
    throw new AuditRefusal([
      `${file}: this audit signing key (public key ${mine}) is not the installation's: the checkpoints in ${database} are signed by public key ${storedKey}; ` +
        "refusing to start, since checkpoints signed with this key could not be verified with the others'. Give every server on this database the same --audit-key FILE",
    ]);
}

/** Where the key of a data directory is unless --audit-key says otherwise. */
export const auditKeyFile = (dataDir: string, auditKey?: string): string => auditKey ?? join(dataDir, KEY_FILE);

/** Start-up refused because the log does not verify (serve.ts turns it into a StartupError). */
export class AuditRefusal extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'AuditRefusal';
  }
}

/** Entries after the last checkpoint that this server did not write: it signs nothing more (503). */
export class AuditTailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditTailError';
  }
}

export interface AuditOptions {
  /** The private key file (PEM); made at the first start when missing. */
  readonly keyFile: string;
  /** Append every checkpoint to this file (one JSON line each); at start, verify against its last one. */
  readonly witnessFile?: string | undefined;
  /** POST every checkpoint (JSON) to this URL, retried in the background. */
  readonly witnessUrl?: string | undefined;
  /** The operator accepts entries after the last checkpoint (e.g. the server stopped before signing them). */
  readonly allowUnsignedTail?: boolean | undefined;
  /** The first start: the log was just made, nothing is signed yet. */
  readonly firstStart?: boolean | undefined;
  readonly logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void } | undefined;
}

/** A checkpoint computed from what a store holds, not yet stored nor taken in. */
interface Pending {
  readonly events: readonly StoredEvent[];
  readonly leaves: readonly Buffer[];
  readonly tree: MerkleAccumulator;
  readonly signed: StoredCheckpoint;
}

/** What the signed entries say of a token (token.create, token.revoke). */
interface VouchedToken {
  readonly user: unknown;
  readonly role: unknown;
  readonly team: unknown;
  /** Absent in entries written before tokens were vouched for by digest. */
  readonly rowSha256: unknown;
  revoked: boolean;
}

/** Writes that append entries themselves (port.ts); through `signingStore` each signs in its own transaction. */
const APPENDING = new Set<PropertyKey>(['appendEvent', 'putPolicy', 'putFleet', 'insertToken', 'revokeToken']);

export class AuditLog {
  /** Leaf hashes of the entries checkpointed so far. */
  private readonly leaves: Buffer[] = [];
  private tree = new MerkleAccumulator();
  private latest: StoredCheckpoint | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private readonly witness: Witness;
  /** Tokens by id, as the signed entries vouch for them. */
  private readonly tokens = new Map<string, VouchedToken>();
  /** Only while opening: the operator accepted the unsigned tail (--allow-unsigned-tail), or it is the first start. */
  private acceptTail = false;
  /** Set inside a signed transaction, so that the signing store's own calls go straight into it. */
  private readonly inSigned = new AsyncLocalStorage<true>();
  private signing: Store | null = null;

  private constructor(
    private readonly store: Store,
    private readonly key: { privateKeyPem: string; publicKey: string },
    private readonly clock: () => number,
    options: AuditOptions,
  ) {
    this.witness = new Witness(options);
  }

  /**
   * Verifies the stored log (entries against checkpoints, the rows it vouches for, and the last
   * checkpoint of the witness file) and refuses to go on when it does not verify, rather than
   * sign a forged log into a fresh checkpoint; then checkpoints whatever the operator accepted.
   * @throws AuditRefusal naming every problem and what the operator can do.
   */
  static async open(store: Store, clock: () => number, options: AuditOptions): Promise<AuditLog> {
    const log = new AuditLog(store, loadOrCreateAuditKey(options.keyFile), clock, options);
    const kept: { checkpoint: Checkpoint; from: string }[] = [];
    if (options.witnessFile !== undefined) {
      let witnessed: Checkpoint[] | null;
      try {
        witnessed = readCheckpointFile(options.witnessFile);
      } catch (error) {
        throw new AuditRefusal([`--audit-witness ${error instanceof Error ? error.message : String(error)}`, '  Repair the witness file (each line one checkpoint as the server wrote it) before starting.']);
      }
      const last = witnessed?.reduce<Checkpoint | null>((max, c) => (max === null || c.size >= max.size ? c : max), null) ?? null;
      if (last) kept.push({ checkpoint: last, from: `the witness file ${options.witnessFile}` });
    }
    const acceptTail = options.allowUnsignedTail === true || options.firstStart === true;
    const result = await verifyStore(store, {
      publicKey: log.key.publicKey,
      allowUnsignedTail: acceptTail,
      allowNoCheckpoint: options.firstStart === true,
      kept,
    });
    if (!result.ok) {
      throw new AuditRefusal([
        `the audit log does not verify (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}), so the server will not sign it into a new checkpoint nor enforce what it records:`,
        ...result.problems.map((p) => `  ${p.entry !== null ? `entry ${p.entry}` : p.checkpoint !== null ? `checkpoint ${p.checkpoint}` : 'log'}: ${p.message}`),
        'What to do: find out who wrote the database; restore it from a backup (or an export) that verifies with `arbiter audit verify`; only if you checked the entries after the last checkpoint and accept them, start with --allow-unsigned-tail.',
      ]);
    }
    const signedSize = result.checkpoints === 0 ? 0 : Math.max(...result.log.checkpoints.map((c) => c.size));
    for (const event of result.log.events.slice(0, signedSize)) log.note(event);
    for (const entry of result.log.entries.slice(0, signedSize)) {
      const leaf = leafHash(entry.text);
      log.leaves.push(leaf);
      log.tree.push(leaf);
    }
    log.latest = result.log.checkpoints.reduce<StoredCheckpoint | null>((max, c) => (max === null || c.size >= max.size ? c : max), null);
    // The witnesses hear of the latest checkpoint, also one signed while the server was down (token create).
    if (log.latest !== null && (kept[0]?.checkpoint.size ?? -1) < log.latest.size) log.witness.send(log.latest);
    log.acceptTail = acceptTail;
    try {
      await log.checkpoint();
    } finally {
      log.acceptTail = false;
    }
    // "At least hourly": a checkpoint is also signed on start and on audit requests; this check
    // once a minute covers a server nobody talks to (and reports entries someone slipped in).
    log.ticker = setInterval(
      () =>
        void log.checkpoint().catch((error: unknown) => {
          options.logger?.error({ err: error }, 'audit checkpoint not signed');
        }),
      60_000,
    );
    log.ticker.unref();
    return log;
  }

  /** Signs what was appended since the last checkpoint, so a stopped server leaves no unsigned tail. */
  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await this.checkpoint().catch(() => undefined);
    await this.witness.close();
  }

  get publicKey(): string {
    return this.key.publicKey;
  }

  get size(): number {
    return this.leaves.length;
  }

  /**
   * The store the server's audited writes go through (governance, token routes): reads go to the
   * store; each write that appends entries (`transaction`, `appendEvent`, `putPolicy`, `putFleet`,
   * `insertToken`, `revokeToken`) runs in one transaction with the checkpoint that signs what it
   * appended (`signed`). So a `kill -9` never leaves an unsigned tail, and any entry after the
   * last checkpoint was written by someone else.
   */
  get signingStore(): Store {
    if (this.signing) return this.signing;
    const inner = this.store;
    const inSigned = this.inSigned;
    const signed = <T>(fn: (tx: Store) => Promise<T>): Promise<T> => this.signed(fn);
    this.signing = new Proxy(inner, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (inSigned.getStore() === true || (prop !== 'transaction' && !APPENDING.has(prop))) return method.bind(target);
        if (prop === 'transaction') return (fn: (tx: Store) => Promise<unknown>) => signed(fn);
        return (...args: unknown[]) => signed((tx) => (Reflect.get(tx, prop, tx) as (...a: unknown[]) => Promise<unknown>).apply(tx, args));
      },
    });
    return this.signing;
  }

  /**
   * Runs `fn` in one transaction with the checkpoint that signs the entries it appended. Refused
   * (an Error, nothing written) when the log already has entries after the last checkpoint: this
   * server signs all of its own in the transaction that appends them, so those were written by
   * someone else, and signing them would vouch for them.
   */
  signed<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      const made: { pending: Pending | null } = { pending: null };
      const value = await this.store.transaction(async (tx) => {
        await this.adoptStored(tx);
        const tail = await tx.events(this.leaves.length + 1, 1000);
        if (tail.length > 0) throw this.foreign(tail);
        const value = await this.inSigned.run(true, () => fn(tx));
        const pending = await this.next(tx);
        if (pending.events.length > 0) {
          await tx.appendAudit(
            pending.events.map((e, i) => ({ seq: e.seq, hash: pending.leaves[i]!.toString('hex') })),
            pending.signed,
          );
          made.pending = pending;
        }
        return value;
      });
      if (made.pending) this.take(made.pending);
      return value;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Why the signed log does not vouch for this token row, or null when it does: a token added,
   * edited (role, team, user, secret hash) or un-revoked in the database is refused by every
   * route at once, not only by the next `audit verify`. A token unknown here is looked for in
   * checkpoints signed since ours first (`arbiter token create` signs its own).
   */
  async tokenRefusal(row: StoredToken): Promise<string | null> {
    if (!this.tokens.has(row.id)) {
      const adopted = this.chain.then(() => this.adoptStored(this.store));
      this.chain = adopted.catch(() => undefined);
      await adopted;
    }
    const vouched = this.tokens.get(row.id);
    if (vouched === undefined) return `token ${row.id} was not created by any signed entry of the audit log (added in the database?)`;
    if (vouched.revoked) return `token ${row.id} was revoked (audit log)`;
    if (row.user !== vouched.user || row.role !== vouched.role || (row.team ?? null) !== vouched.team) return `token ${row.id} differs from the audit log's entry that created it (edited in the database?)`;
    if (typeof vouched.rowSha256 === 'string' && vouched.rowSha256 !== tokenRowSha256(row)) return `token ${row.id}: its row is not the one the audit log vouches for (edited in the database?)`;
    return null;
  }

  /**
   * Takes every event appended since the last checkpoint into the tree and signs a checkpoint
   * (also when nothing was appended but the last one is an hour old). Calls run one at a time.
   * Entries no checkpoint covers are signed only while opening, when the operator accepted them.
   */
  checkpoint(): Promise<StoredCheckpoint | null> {
    const run = this.chain.then(() => this.checkpointNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private foreign(tail: readonly StoredEvent[]): AuditTailError {
    const first = tail[0]!;
    return new AuditTailError(
      `the audit log has entries from ${first.seq - 1} on (${first.kind} by ${first.actor}, ...) that no checkpoint covers and that this server did not write (it signs its own in the same transaction): someone wrote the database. Nothing more is signed until it is resolved; run arbiter audit verify`,
    );
  }

  /** Records what a signed entry says of a token. */
  private note(event: StoredEvent): void {
    if (event.kind === 'token.create') {
      const data = (event.data ?? {}) as Record<string, unknown>;
      this.tokens.set(event.subject, { user: data['user'], role: data['role'], team: data['team'] ?? null, rowSha256: data['rowSha256'], revoked: false });
    } else if (event.kind === 'token.revoke') {
      const token = this.tokens.get(event.subject);
      if (token) token.revoked = true;
    }
  }

  /**
   * Checkpoints another holder of the key stored since ours (`arbiter token create` signs its own
   * entry): taken in when validly signed and their root is that of the entries, else an error.
   */
  private async adoptStored(store: Store): Promise<void> {
    const stored = await store.checkpoints();
    const last = stored.reduce<StoredCheckpoint | null>((max, c) => (max === null || c.size >= max.size ? c : max), null);
    if (last === null || last.size <= this.leaves.length) return;
    if (!verifyCheckpointSignature(last, this.key.publicKey)) throw new Error(`a checkpoint of size ${last.size} in the database is not signed by this server's key: the database was written by someone else; run arbiter audit verify`);
    const events: StoredEvent[] = [];
    while (this.leaves.length + events.length < last.size) {
      const page = await store.events(this.leaves.length + events.length + 1, Math.min(1000, last.size - this.leaves.length - events.length));
      if (page.length === 0) break;
      events.push(...page);
    }
    const leaves = events.map((event) => leafHash(auditEntryText(event)));
    const tree = this.tree.clone();
    for (const leaf of leaves) tree.push(leaf);
    if (tree.size !== last.size || tree.root().toString('hex') !== last.root) throw new Error(`the checkpoint of size ${last.size} in the database does not match the stored entries: run arbiter audit verify`);
    this.take({ events, leaves, tree, signed: last });
  }

  /** The checkpoint that would sign every entry `store` holds after ours; changes nothing. */
  private async next(store: Store): Promise<Pending> {
    const events: StoredEvent[] = [];
    for (;;) {
      const page = await store.events(this.leaves.length + events.length + 1, 1000);
      if (page.length === 0) break;
      events.push(...page);
    }
    const leaves = events.map((event) => leafHash(auditEntryText(event)));
    const tree = this.tree.clone();
    for (const leaf of leaves) tree.push(leaf);
    const signed = signCheckpoint(this.key.privateKeyPem, tree.size, tree.root().toString('hex'), new Date(this.clock() * 1000).toISOString());
    return { events, leaves, tree, signed };
  }

  /** Takes a stored checkpoint and the entries it signs in. */
  private take(pending: Pending): void {
    for (const leaf of pending.leaves) this.leaves.push(leaf);
    for (const event of pending.events) this.note(event);
    this.tree = pending.tree;
    this.latest = pending.signed;
    this.witness.send(pending.signed);
  }

  private async checkpointNow(): Promise<StoredCheckpoint | null> {
    await this.adoptStored(this.store);
    const pending = await this.next(this.store);
    const stale = this.latest === null || this.clock() - Date.parse(this.latest.time) / 1000 >= HOUR;
    if (pending.events.length === 0 && !stale) return this.latest;
    if (pending.events.length > 0 && !this.acceptTail) throw this.foreign(pending.events);
    await this.store.appendAudit(
      pending.events.map((e, i) => ({ seq: e.seq, hash: pending.leaves[i]!.toString('hex') })),
      pending.signed,
    );
    this.take(pending);
    return pending.signed;
  }

  latestCheckpoint(): StoredCheckpoint | null {
    return this.latest;
  }

  /** The root (hex) of the tree of the first `size` entries. */
  rootAt(size: number): string {
    return merkleRoot(this.leaves, size).toString('hex');
  }

  leafAt(index: number): string {
    return this.leaves[index]!.toString('hex');
  }

  /** RFC 6962 audit path of entry `index` in the tree of `size` entries (hex hashes). */
  inclusion(index: number, size: number): string[] {
    return inclusionProof(this.leaves, index, size).map((h) => h.toString('hex'));
  }

  /** RFC 6962 consistency proof between the trees of `from` and `to` entries (hex hashes). */
  consistency(from: number, to: number): string[] {
    return consistencyProof(this.leaves, from, to).map((h) => h.toString('hex'));
  }
}

/** The signing key of an existing log, read (never made): a missing or bad file is an Error naming it. */
export function readAuditKey(file: string): { privateKeyPem: string; publicKey: string } {
  let privateKeyPem: string;
  try {
    privateKeyPem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: cannot read the audit log's signing key (${(error as NodeJS.ErrnoException).code ?? String(error)}); give it with --audit-key FILE`, { cause: error });
  }
  try {
    return { privateKeyPem, publicKey: publicKeyOf(privateKeyPem) };
  } catch (error) {
    throw new Error(`${file}: not an Ed25519 private key in PEM (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/**
 * Runs `fn`, which appends entries (a command working on the database directly, such as
 * `arbiter token create`), and signs a checkpoint covering them in the same transaction, so that
 * what an operator with the key did leaves no unsigned tail. The log must verify first
 * (AuditRefusal otherwise, and nothing is written). When it already had an unsigned tail (a
 * running server signs its own appends a moment later), the new entries are left for the server
 * to sign with the rest: `signed` is false.
 */
export async function appendSigned<T>(store: Store, key: { privateKeyPem: string; publicKey: string }, clock: () => number, fn: (tx: Store) => Promise<T>): Promise<{ value: T; signed: boolean }> {
  return store.transaction(async (tx) => {
    const before = await verifyStore(tx, { publicKey: key.publicKey, allowUnsignedTail: true });
    if (!before.ok) {
      throw new AuditRefusal([
        `the audit log does not verify (${before.problems.length} problem${before.problems.length === 1 ? '' : 's'}), so nothing was written or signed:`,
        ...before.problems.map((p) => `  ${p.entry !== null ? `entry ${p.entry}` : p.checkpoint !== null ? `checkpoint ${p.checkpoint}` : 'log'}: ${p.message}`),
      ]);
    }
    const value = await fn(tx);
    const signedSize = Math.max(0, ...before.log.checkpoints.map((c) => c.size));
    if (signedSize !== before.log.entries.length) return { value, signed: false };
    const tree = new MerkleAccumulator();
    for (const entry of before.log.entries) tree.push(leafHash(entry.text));
    const added: { seq: number; hash: string }[] = [];
    for (const event of await tx.events(signedSize + 1, 1_000_000)) {
      const leaf = leafHash(auditEntryText(event));
      tree.push(leaf);
      added.push({ seq: event.seq, hash: leaf.toString('hex') });
    }
    if (added.length === 0) return { value, signed: false };
    await tx.appendAudit(added, signCheckpoint(key.privateKeyPem, tree.size, tree.root().toString('hex'), new Date(clock() * 1000).toISOString()));
    return { value, signed: true };
  });
}
