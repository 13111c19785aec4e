import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  MerkleAccumulator,
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

// Known answers: the reference data of transparency-dev/merkle (testonly/constants.go and
// proof/verify_test.go), which carries over google/certificate-transparency's RFC 6962 tree tests.
// Leaf inputs are hex bytes; proofs there number leaves from 1, here indexes count from 0.
const LEAF_INPUTS = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((hex) => Buffer.from(hex, 'hex'));

/** ROOTS[n] = MTH of the first n leaf inputs. */
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** The leaf hashes of the 8 inputs (level 0 of testonly.NodeHashes). */
const LEAF_HASHES = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
  '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
  'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
  'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
  '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
];

const INCLUSION_VECTORS: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const CONSISTENCY_VECTORS: { m: number; n: number; proof: string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const hex = (hash: Buffer): string => hash.toString('hex');
const hexes = (hashes: readonly Buffer[]): string[] => hashes.map(hex);
const unhex = (text: string): Buffer => Buffer.from(text, 'hex');
const REFERENCE_LEAVES = LEAF_INPUTS.map(leafHash);

/** Leaf hashes of `count` distinct entries, like the audit log's. */
function leavesOf(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => leafHash(`{"entry":${i}}`));
}

/** A copy of the proof with one bit flipped in element `element`. */
function flipBit(proof: readonly Buffer[], element: number, bit: number): Buffer[] {
  return proof.map((hash, i) => {
    if (i !== element) return hash;
    const copy = Buffer.from(hash);
    copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
    return copy;
  });
}

const MAX_SIZE = 70;
const LEAVES = leavesOf(MAX_SIZE);
const ROOT_AT = Array.from({ length: MAX_SIZE + 1 }, (_, size) => merkleRoot(LEAVES, size));

describe('RFC 6962 hashing', () => {
  it('hashes leaves with the 0x00 prefix and nodes with 0x01', () => {
    expect(hexes(REFERENCE_LEAVES)).toEqual(LEAF_HASHES);
    const [a, b] = REFERENCE_LEAVES as [Buffer, Buffer];
    const expected = createHash('sha256')
      .update(Buffer.from([1]))
      .update(a)
      .update(b)
      .digest();
    expect(hex(nodeHash(a, b))).toBe(hex(expected));
    expect(hex(leafHash('{"a":1}'))).toBe(hex(leafHash(Buffer.from('{"a":1}', 'utf8'))));
  });

  it('gives the empty tree the SHA-256 of nothing', () => {
    expect(hex(EMPTY_ROOT)).toBe(ROOTS[0]);
    expect(hex(merkleRoot([]))).toBe(ROOTS[0]);
    expect(hex(new MerkleAccumulator().root())).toBe(ROOTS[0]);
  });

  it('matches the reference root for every size 0..8', () => {
    const roots = ROOTS.map((_, size) => hex(merkleRoot(REFERENCE_LEAVES, size)));
    expect(roots).toEqual(ROOTS);
  });

  it('accumulates to the reference roots one leaf at a time', () => {
    const accumulator = new MerkleAccumulator();
    const roots = [hex(accumulator.root())];
    for (const leaf of REFERENCE_LEAVES) {
      accumulator.push(leaf);
      roots.push(hex(accumulator.root()));
    }
    expect(roots).toEqual(ROOTS);
    expect(accumulator.size).toBe(8);
  });

  it('refuses a size beyond the leaves', () => {
    expect(() => merkleRoot(REFERENCE_LEAVES, 9)).toThrow(RangeError);
    expect(() => merkleRoot(REFERENCE_LEAVES, -1)).toThrow(RangeError);
    expect(() => merkleRoot(REFERENCE_LEAVES, 1.5)).toThrow(RangeError);
  });
});

describe('inclusion proofs (RFC 6962 §2.1.1, RFC 9162 §2.1.3.2)', () => {
  it.each(INCLUSION_VECTORS)(
    'matches the reference path of leaf $index in a tree of $size',
    ({ index, size, proof }) => {
      expect(hexes(inclusionProof(REFERENCE_LEAVES, index, size))).toEqual(proof);
      const root = unhex(ROOTS[size] as string);
      expect(verifyInclusion(REFERENCE_LEAVES[index] as Buffer, index, size, proof.map(unhex), root)).toBe(
        true,
      );
    },
  );

  it('refuses an index outside the tree or a tree larger than the leaves', () => {
    expect(() => inclusionProof(REFERENCE_LEAVES, 8, 8)).toThrow(RangeError);
    expect(() => inclusionProof(REFERENCE_LEAVES, 0, 0)).toThrow(RangeError);
    expect(() => inclusionProof(REFERENCE_LEAVES, -1, 4)).toThrow(RangeError);
    expect(() => inclusionProof(REFERENCE_LEAVES, 0, 9)).toThrow(RangeError);
  });

  it('verifies nothing in an empty tree or past the end', () => {
    const leaf = REFERENCE_LEAVES[0] as Buffer;
    expect(verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT)).toBe(false);
    expect(verifyInclusion(leaf, 1, 1, [], leaf)).toBe(false);
    expect(verifyInclusion(leaf, 0, 1, [], leaf)).toBe(true);
    expect(verifyInclusion(leaf, 0, 1, [], Buffer.alloc(0))).toBe(false); // wrong hash length
  });

  it(`verifies every leaf of every tree of 1..${MAX_SIZE} leaves, and nothing tampered`, () => {
    let checked = 0;
    for (let size = 1; size <= MAX_SIZE; size++) {
      const root = ROOT_AT[size] as Buffer;
      for (let index = 0; index < size; index++) {
        const leaf = LEAVES[index] as Buffer;
        const proof = inclusionProof(LEAVES, index, size);
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);

        const forgeries: [string, boolean][] = [
          [
            'another leaf',
            verifyInclusion(LEAVES[(index + 1) % MAX_SIZE] as Buffer, index, size, proof, root),
          ],
          ['index + 1', verifyInclusion(leaf, index + 1, size, proof, root)],
          ['index - 1', index > 0 && verifyInclusion(leaf, index - 1, size, proof, root)],
          // A checkpoint binds a size to its root, so a wrong size comes with that size's root.
          [
            'size + 1',
            size < MAX_SIZE && verifyInclusion(leaf, index, size + 1, proof, ROOT_AT[size + 1] as Buffer),
          ],
          ['size - 1', verifyInclusion(leaf, index, size - 1, proof, ROOT_AT[size - 1] as Buffer)],
          ['size * 2, same root', verifyInclusion(leaf, index, size * 2, proof, root)],
          ['root of size - 1', verifyInclusion(leaf, index, size, proof, ROOT_AT[size - 1] as Buffer)],
          ['extra element', verifyInclusion(leaf, index, size, [...proof, root], root)],
          ['missing element', proof.length > 0 && verifyInclusion(leaf, index, size, proof.slice(1), root)],
        ];
        for (let element = 0; element < proof.length; element++) {
          const bit = (index * 31 + element * 7) % 256; // a different bit each time, every byte in turn
          forgeries.push([
            `bit ${bit} of element ${element}`,
            verifyInclusion(leaf, index, size, flipBit(proof, element, bit), root),
          ]);
        }
        const accepted = forgeries
          .filter(([, ok]) => ok)
          .map(([name]) => `${name} (leaf ${index} of ${size})`);
        expect(accepted).toEqual([]);
        checked++;
      }
    }
    expect(checked).toBe((MAX_SIZE * (MAX_SIZE + 1)) / 2);
  });
});

describe('consistency proofs (RFC 6962 §2.1.2, RFC 9162 §2.1.4.2)', () => {
  it.each(CONSISTENCY_VECTORS)('matches the reference proof from $m to $n', ({ m, n, proof }) => {
    expect(hexes(consistencyProof(REFERENCE_LEAVES, m, n))).toEqual(proof);
    const [rootM, rootN] = [unhex(ROOTS[m] as string), unhex(ROOTS[n] as string)];
    expect(verifyConsistency(m, n, rootM, rootN, proof.map(unhex))).toBe(true);
  });

  it('proves the empty tree and a tree itself with an empty proof', () => {
    expect(consistencyProof(REFERENCE_LEAVES, 0, 8)).toEqual([]);
    expect(consistencyProof(REFERENCE_LEAVES, 8, 8)).toEqual([]);
    const root8 = unhex(ROOTS[8] as string);
    expect(verifyConsistency(0, 8, EMPTY_ROOT, root8, [])).toBe(true);
    expect(verifyConsistency(0, 8, root8, root8, [])).toBe(false); // a size-0 tree has the empty root
    expect(verifyConsistency(8, 8, root8, root8, [])).toBe(true);
    expect(verifyConsistency(8, 8, root8, EMPTY_ROOT, [])).toBe(false);
    expect(verifyConsistency(8, 8, root8, root8, [root8])).toBe(false);
  });

  it('refuses to go backwards or beyond the leaves', () => {
    expect(() => consistencyProof(REFERENCE_LEAVES, 5, 4)).toThrow(RangeError);
    expect(() => consistencyProof(REFERENCE_LEAVES, -1, 4)).toThrow(RangeError);
    expect(() => consistencyProof(REFERENCE_LEAVES, 2, 9)).toThrow(RangeError);
    const [root4, root5] = [unhex(ROOTS[4] as string), unhex(ROOTS[5] as string)];
    expect(verifyConsistency(5, 4, root5, root4, [])).toBe(false);
    expect(verifyConsistency(4, 5, root4, root5, [])).toBe(false); // m < n needs a proof
  });

  it(`verifies every pair of sizes m <= n <= ${MAX_SIZE}, and nothing tampered`, () => {
    let checked = 0;
    for (let n = 1; n <= MAX_SIZE; n++) {
      const rootN = ROOT_AT[n] as Buffer;
      for (let m = 0; m <= n; m++) {
        const rootM = ROOT_AT[m] as Buffer;
        const proof = consistencyProof(LEAVES, m, n);
        expect(verifyConsistency(m, n, rootM, rootN, proof)).toBe(true);
        checked++;
        if (proof.length === 0) continue; // m == 0 or m == n: nothing to tamper with but the roots (above)

        const otherRoot = ROOT_AT[m === 1 ? 2 : m - 1] as Buffer;
        const forgeries: [string, boolean][] = [
          // As for inclusion, a wrong size comes with that size's root (checkpoints bind the two).
          ['m + 1', verifyConsistency(m + 1, n, ROOT_AT[m + 1] as Buffer, rootN, proof)],
          ['m - 1', verifyConsistency(m - 1, n, ROOT_AT[m - 1] as Buffer, rootN, proof)],
          ['n + 1', n < MAX_SIZE && verifyConsistency(m, n + 1, rootM, ROOT_AT[n + 1] as Buffer, proof)],
          ['n - 1', verifyConsistency(m, n - 1, rootM, ROOT_AT[n - 1] as Buffer, proof)],
          ['n * 2, same root', verifyConsistency(m, n * 2, rootM, rootN, proof)],
          ['another old root', verifyConsistency(m, n, otherRoot, rootN, proof)],
          ['another new root', verifyConsistency(m, n, rootM, ROOT_AT[n - 1] as Buffer, proof)],
          ['swapped roots', verifyConsistency(m, n, rootN, rootM, proof)],
          ['empty proof', verifyConsistency(m, n, rootM, rootN, [])],
          ['trailing element', verifyConsistency(m, n, rootM, rootN, [...proof, rootN])],
          ['leading element', verifyConsistency(m, n, rootM, rootN, [rootM, ...proof])],
          ['truncated', verifyConsistency(m, n, rootM, rootN, proof.slice(0, -1))],
        ];
        for (let element = 0; element < proof.length; element++) {
          const bit = (m * 13 + n * 5 + element * 7) % 256;
          forgeries.push([
            `bit ${bit} of element ${element}`,
            verifyConsistency(m, n, rootM, rootN, flipBit(proof, element, bit)),
          ]);
        }
        const accepted = forgeries.filter(([, ok]) => ok).map(([name]) => `${name} (${m} -> ${n})`);
        expect(accepted).toEqual([]);
      }
    }
    expect(checked).toBe(((MAX_SIZE + 1) * (MAX_SIZE + 2)) / 2 - 1);
  });
});

describe('MerkleAccumulator', () => {
  it(`has the root of merkleRoot at every size 0..${MAX_SIZE}, without changing when read`, () => {
    const accumulator = new MerkleAccumulator();
    for (let size = 0; size <= MAX_SIZE; size++) {
      expect(accumulator.size).toBe(size);
      expect(hex(accumulator.root())).toBe(hex(ROOT_AT[size] as Buffer));
      expect(hex(accumulator.root())).toBe(hex(ROOT_AT[size] as Buffer)); // root() is a read
      if (size < MAX_SIZE) accumulator.push(LEAVES[size] as Buffer);
    }
  });
});
