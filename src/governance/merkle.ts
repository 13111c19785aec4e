// The audit log's Merkle tree, exactly as RFC 6962 §2.1 defines it (unchanged in RFC 9162 §2.1), so any
// Certificate Transparency tooling can check our roots and proofs.
//
// Every hash is a 32-byte Buffer. Leaves and interior nodes are hashed with different one-byte prefixes
// (0x00, 0x01) so a leaf can never be passed off as a node (second-preimage resistance, RFC 6962 §2.1).
// Sizes and indexes are plain numbers: safe integers, with bit operations written as arithmetic because
// JavaScript's bitwise operators truncate to 32 bits.

import { createHash } from 'node:crypto';

export const HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** MTH({}) = SHA-256() (RFC 6962 §2.1): the root of the empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** MTH({d}) = SHA-256(0x00 || d). A string entry is hashed as its UTF-8 bytes. */
export function leafHash(entry: string | Uint8Array): Buffer {
  const bytes = typeof entry === 'string' ? Buffer.from(entry, 'utf8') : entry;
  return createHash('sha256').update(LEAF_PREFIX).update(bytes).digest();
}

/** SHA-256(0x01 || left || right): an interior node. */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/**
 * MTH(D[0:size]) over the first `size` leaf hashes (RFC 6962 §2.1), in O(size) hashes.
 * @throws RangeError when size is not an integer in 0..leaves.length.
 */
export function merkleRoot(leaves: readonly Buffer[], size: number = leaves.length): Buffer {
  checkSize(size, leaves.length, 'size');
  return size === 0 ? EMPTY_ROOT : subtreeRoot(leaves, 0, size);
}

/**
 * The root of a growing tree, kept as its "frontier": the roots of the perfect subtrees that the leaves
 * so far split into, largest first (one per 1-bit of the size, so O(log n) hashes). Pushing a leaf
 * merges equal-sized subtrees like a binary counter carries, amortised O(1) hashes per push.
 *
 * Example, 6 leaves (binary 110): frontier = [MTH(D[0:4]), MTH(D[4:6])] and
 * root = nodeHash(MTH(D[0:4]), MTH(D[4:6])), which is the RFC 6962 split at k = 4.
 */
export class MerkleAccumulator {
  /** Perfect-subtree roots, largest first; their sizes are the 1-bits of `size`. */
  private readonly frontier: Buffer[] = [];
  private leafCount = 0;

  /** Number of leaves pushed so far. */
  get size(): number {
    return this.leafCount;
  }

  /** Appends one leaf hash (as made by `leafHash`). */
  push(leaf: Buffer): void {
    let carried = leaf;
    // Each trailing 1-bit of the old size is a subtree of the same size as `carried`: merge them.
    for (let bits = this.leafCount; bits % 2 === 1; bits = Math.floor(bits / 2)) {
      carried = nodeHash(this.frontier.pop() as Buffer, carried);
    }
    this.frontier.push(carried);
    this.leafCount += 1;
  }

  /** A copy that grows on its own (O(log n)): a checkpoint computed in a transaction that may roll back. */
  clone(): MerkleAccumulator {
    const copy = new MerkleAccumulator();
    copy.frontier.push(...this.frontier);
    copy.leafCount = this.leafCount;
    return copy;
  }

  /** MTH of all leaves pushed so far; does not change the accumulator. */
  root(): Buffer {
    let root: Buffer | undefined;
    // RFC 6962 splits at the largest power of two below the size, which is the frontier's first
    // subtree; the right part splits the same way, so the root folds the frontier from the right.
    for (let i = this.frontier.length - 1; i >= 0; i--) {
      const subtree = this.frontier[i] as Buffer;
      root = root === undefined ? subtree : nodeHash(subtree, root);
    }
    return root ?? EMPTY_ROOT;
  }
}

/**
 * PATH(index, D[0:size]) of RFC 6962 §2.1.1: the sibling hashes from the leaf up to the root, lowest
 * first. A tree of one leaf has an empty path.
 * @throws RangeError unless 0 <= index < size <= leaves.length.
 */
export function inclusionProof(leaves: readonly Buffer[], index: number, size: number): Buffer[] {
  checkSize(size, leaves.length, 'size');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`index ${index} is not a leaf of a tree of size ${size}`);
  }
  const proof: Buffer[] = [];
  collectPath(leaves, index, 0, size, proof);
  return proof;
}

/**
 * PROOF(m, D[0:n]) of RFC 6962 §2.1.2: the hashes that show the tree of size m is a prefix of the tree
 * of size n. Empty when m == n or m == 0 (every tree extends the empty tree).
 * @throws RangeError unless 0 <= m <= n <= leaves.length.
 */
export function consistencyProof(leaves: readonly Buffer[], m: number, n: number): Buffer[] {
  checkSize(n, leaves.length, 'n');
  checkSize(m, n, 'm');
  const proof: Buffer[] = [];
  if (m > 0 && m < n) collectSubproof(leaves, m, 0, n, true, proof);
  return proof;
}

/**
 * Whether `proof` shows `leaf` at `index` in the tree of `size` leaves whose root is `root`
 * (RFC 9162 §2.1.3.2; needs no other leaves). Never throws: bad arguments are simply false.
 */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!isSize(size) || !isSize(index) || index >= size) return false; // step 1
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index; // step 2
  let sn = size - 1;
  let r = leaf; // step 3
  for (const p of proof) {
    // step 4
    if (sn === 0) return false; // 4a: more proof than tree
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r); // 4b.i: p is a left sibling
      if (fn % 2 === 0) {
        // 4b.ii: fn is the last node of its level; skip the levels where it has no right sibling.
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
      }
    } else {
      r = nodeHash(r, p); // p is a right sibling
    }
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)]; // 4c
  }
  return sn === 0 && r.equals(root); // step 5
}

/**
 * Whether `proof` shows the tree of size m with root `rootM` is a prefix of the tree of size n with
 * root `rootN` (RFC 9162 §2.1.4.2; needs no leaves). m == n needs equal roots and an empty proof;
 * m == 0 needs rootM to be the empty root and an empty proof. Never throws.
 */
export function verifyConsistency(
  m: number,
  n: number,
  rootM: Buffer,
  rootN: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (!isHash(rootM) || !isHash(rootN) || !proof.every(isHash)) return false;
  if (m === 0) return proof.length === 0 && rootM.equals(EMPTY_ROOT);
  if (m === n) return proof.length === 0 && rootM.equals(rootN);
  if (proof.length === 0) return false; // step 1
  // Step 2: when m is a power of two, the old root is itself a node of the new tree and the proof
  // leaves it out; put it back so the walk below starts from it.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1; // step 3
  let sn = n - 1;
  while (fn % 2 === 1) [fn, sn] = [(fn - 1) / 2, Math.floor(sn / 2)]; // step 4
  let fr = path[0] as Buffer; // step 5
  let sr = fr;
  for (const c of path.slice(1)) {
    // step 6
    if (sn === 0) return false; // 6a
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr); // 6b.i
      sr = nodeHash(c, sr); // 6b.ii
      if (fn % 2 === 0) {
        // 6b.iii
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
      }
    } else {
      sr = nodeHash(sr, c); // c is only in the new tree
    }
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)]; // 6c
  }
  return sn === 0 && fr.equals(rootM) && sr.equals(rootN); // step 7
}

/** MTH(D[start:end]) for end > start, splitting at k, the largest power of two below the count. */
function subtreeRoot(leaves: readonly Buffer[], start: number, end: number): Buffer {
  const count = end - start;
  if (count === 1) return leaves[start] as Buffer;
  const k = largestPowerOfTwoBelow(count);
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end));
}

/** RFC 6962 §2.1.1, PATH(index - start, D[start:end]), appended to `proof`. */
function collectPath(
  leaves: readonly Buffer[],
  index: number,
  start: number,
  end: number,
  proof: Buffer[],
): void {
  const count = end - start;
  if (count === 1) return; // PATH(0, {d}) = {}
  const k = largestPowerOfTwoBelow(count);
  if (index - start < k) {
    collectPath(leaves, index, start, start + k, proof); // PATH(m, D[0:k]) : MTH(D[k:n])
    proof.push(subtreeRoot(leaves, start + k, end));
  } else {
    collectPath(leaves, index, start + k, end, proof); // PATH(m - k, D[k:n]) : MTH(D[0:k])
    proof.push(subtreeRoot(leaves, start, start + k));
  }
}

/**
 * RFC 6962 §2.1.2, SUBPROOF(m, D[start:end], startsAtOldRoot), appended to `proof`. `startsAtOldRoot`
 * (b in the RFC) is true while the subtree is the old tree's own root, which the verifier already has.
 */
function collectSubproof(
  leaves: readonly Buffer[],
  m: number,
  start: number,
  end: number,
  startsAtOldRoot: boolean,
  proof: Buffer[],
): void {
  const count = end - start;
  if (m === count) {
    if (!startsAtOldRoot) proof.push(subtreeRoot(leaves, start, end)); // SUBPROOF(m, D[m], false)
    return;
  }
  const k = largestPowerOfTwoBelow(count);
  if (m <= k) {
    collectSubproof(leaves, m, start, start + k, startsAtOldRoot, proof); // SUBPROOF(m, D[0:k], b)
    proof.push(subtreeRoot(leaves, start + k, end)); // : MTH(D[k:n])
  } else {
    collectSubproof(leaves, m - k, start + k, end, false, proof); // SUBPROOF(m - k, D[k:n], false)
    proof.push(subtreeRoot(leaves, start, start + k)); // : MTH(D[0:k])
  }
}

/** The largest power of two strictly below `count` (count >= 2): 2 -> 1, 5 -> 4, 8 -> 4. */
function largestPowerOfTwoBelow(count: number): number {
  let k = 1;
  while (k * 2 < count) k *= 2;
  return k;
}

function isPowerOfTwo(value: number): boolean {
  let k = 1;
  while (k < value) k *= 2;
  return k === value;
}

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function isHash(value: Buffer): boolean {
  return Buffer.isBuffer(value) && value.length === HASH_BYTES;
}

function checkSize(size: number, max: number, name: string): void {
  if (!isSize(size) || size > max) {
    throw new RangeError(`${name} ${size} must be an integer from 0 to ${max}`);
  }
}
