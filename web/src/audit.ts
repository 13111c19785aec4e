// The audit log checked in the browser (docs/governance.md "The audit log"): an entry's leaf
// hash is SHA-256(0x00 || entry), its inclusion proof (RFC 6962/9162 audit path) must lead to
// the root of the signed checkpoint, and the checkpoint's Ed25519 signature over the canonical
// JSON {"root","size","time"} must verify with the server's public key. WebCrypto does the
// hashing and the signature, so the check does not trust the server's own verdict.
const hex = (bytes: ArrayBuffer | Uint8Array): string =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (text: string): Uint8Array<ArrayBuffer> =>
  new Uint8Array((text.match(/../g) ?? []).map((h) => parseInt(h, 16)));
const unbase64 = (text: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function sha256(prefix: number, ...parts: Uint8Array[]): Promise<Uint8Array<ArrayBuffer>> {
  const length = 1 + parts.reduce((s, p) => s + p.length, 0);
  const buffer = new Uint8Array(length);
  buffer[0] = prefix;
  let at = 1;
  for (const p of parts) {
    buffer.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
}

export const leafHash = async (entry: string): Promise<string> =>
  hex(await sha256(0, new TextEncoder().encode(entry)));

/** RFC 9162 §2.1.3.2: the root an audit path leads to, or null when the path does not fit the tree. */
export async function rootFromProof(
  leaf: string,
  index: number,
  size: number,
  proof: readonly string[],
): Promise<string | null> {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = unhex(leaf);
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(1, unhex(p), r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
    } else r = await sha256(1, r, unhex(p));
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? hex(r) : null;
}

export interface Checkpoint {
  size: number;
  root: string;
  time: string;
  signature: string;
  publicKey: string;
}

/** The checkpoint's signature, checked with WebCrypto's Ed25519. */
export async function checkpointSigned(c: Checkpoint): Promise<boolean> {
  const message = `{"root":${JSON.stringify(c.root)},"size":${c.size},"time":${JSON.stringify(c.time)}}`;
  const key = await crypto.subtle.importKey('raw', unbase64(c.publicKey), { name: 'Ed25519' }, false, [
    'verify',
  ]);
  return crypto.subtle.verify(
    { name: 'Ed25519' },
    key,
    unbase64(c.signature),
    new TextEncoder().encode(message),
  );
}
