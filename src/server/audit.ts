// The audit log of the live service (docs/governance.md, "Audit log"): every event the store
// appended (governance steps, policy, fleet and token changes, policy activations) is a leaf
// of an RFC 6962 Merkle tree, in `seq` order (leaf index = seq - 1). After every append batch,
// and at least hourly, a checkpoint {size, root, time} is signed with the Ed25519 key made at
// first start and kept in the data directory (audit-key.pem, mode 0600).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { auditEntryText } from '../governance/audit-entry.js';
import { generateAuditKey, signCheckpoint } from '../governance/audit-log.js';
import type { Checkpoint } from '../governance/audit-log.js';
import { consistencyProof, inclusionProof, leafHash, MerkleAccumulator, merkleRoot } from '../governance/merkle.js';
import type { Store, StoredCheckpoint } from '../storage/port.js';

const HOUR = 3600;
const KEY_FILE = 'audit-key.pem';

/** The raw Ed25519 public key (base64) of a PEM private key. */
export function publicKeyOf(privateKeyPem: string): string {
  const der = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64');
}

/** The key of a data directory, made (mode 0600) when missing. */
export function loadOrCreateAuditKey(dataDir: string): { privateKeyPem: string; publicKey: string } {
  const file = join(dataDir, KEY_FILE);
  if (existsSync(file)) {
    const privateKeyPem = readFileSync(file, 'utf8');
    return { privateKeyPem, publicKey: publicKeyOf(privateKeyPem) };
  }
  const key = generateAuditKey();
  writeFileSync(file, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  return key;
}

export class AuditLog {
  /** Leaf hashes of the entries checkpointed so far. */
  private readonly leaves: Buffer[] = [];
  private tree = new MerkleAccumulator();
  private latest: StoredCheckpoint | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;

  private constructor(
    private readonly store: Store,
    private readonly key: { privateKeyPem: string; publicKey: string },
    private readonly clock: () => number,
  ) {}

  /** Loads the stored leaves, then checkpoints whatever was appended while the server was down. */
  static async open(store: Store, dataDir: string, clock: () => number): Promise<AuditLog> {
    const log = new AuditLog(store, loadOrCreateAuditKey(dataDir), clock);
    for (const { hash } of await store.auditLeaves()) {
      const leaf = Buffer.from(hash, 'hex');
      log.leaves.push(leaf);
      log.tree.push(leaf);
    }
    const checkpoints = await store.checkpoints();
    log.latest = checkpoints.at(-1) ?? null;
    await log.checkpoint();
    // "At least hourly": a checkpoint is also signed on start, on audit requests and after
    // governance requests; this check once a minute covers a server nobody talks to.
    log.ticker = setInterval(() => void log.checkpoint().catch(() => undefined), 60_000);
    log.ticker.unref();
    return log;
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
  }

  get publicKey(): string {
    return this.key.publicKey;
  }

  get size(): number {
    return this.leaves.length;
  }

  /**
   * Takes every event appended since the last checkpoint into the tree and signs a checkpoint
   * (also when nothing was appended but the last one is an hour old). Calls run one at a time.
   */
  checkpoint(): Promise<StoredCheckpoint | null> {
    const run = this.chain.then(() => this.checkpointNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async checkpointNow(): Promise<StoredCheckpoint | null> {
    const added: { seq: number; hash: string }[] = [];
    for (;;) {
      const events = await this.store.events(this.leaves.length + added.length + 1, 1000);
      if (events.length === 0) break;
      for (const event of events) {
        const leaf = leafHash(auditEntryText(event));
        added.push({ seq: event.seq, hash: leaf.toString('hex') });
      }
    }
    const now = this.clock();
    const stale = this.latest === null || now - Date.parse(this.latest.time) / 1000 >= HOUR;
    if (added.length === 0 && !stale) return this.latest;
    const before = this.leaves.length;
    for (const leaf of added) {
      const hash = Buffer.from(leaf.hash, 'hex');
      this.leaves.push(hash);
      this.tree.push(hash);
    }
    const signed: Checkpoint = signCheckpoint(this.key.privateKeyPem, this.tree.size, this.tree.root().toString('hex'), new Date(now * 1000).toISOString());
    try {
      await this.store.appendAudit(added, signed);
    } catch (error) {
      // Not stored: forget the new leaves, so the next checkpoint takes them again.
      this.leaves.length = before;
      this.tree = new MerkleAccumulator();
      for (const leaf of this.leaves) this.tree.push(leaf);
      throw error;
    }
    this.latest = signed;
    return signed;
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
