// Reading a proposal body that may attach a trace (impact-runner.ts, request-body.ts): small and
// large bodies give the same answers, and many large ones at once all get theirs (at most
// MAX_BODY_READERS are read at a time, each finishing reader handing its place on).
import { describe, expect, it } from 'vitest';
import { INLINE_BODY_BYTES, MAX_BODY_READERS, readProposalOffThread } from './impact-runner.js';

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const trace = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `j${i}`, submit: i, team: 'research', gpus: 1 + (i % 4), duration: 60 }));
const body = (n: number) => ({ title: 'Shift', rationale: 'why', policy: 'teams: []\n', trace: trace(n) });

describe('readProposalOffThread', () => {
  it('reads a large body as a small one, and refuses a bad job naming it', async () => {
    const large = bytes(body(1000));
    expect(large.byteLength).toBeGreaterThan(INLINE_BODY_BYTES);
    const read = await readProposalOffThread(large, 'proposal', 100_000);
    expect(read.ok && read.value.trace).toBe('json');
    expect(read.ok && read.value.fields).toEqual({ title: 'Shift', rationale: 'why', policy: 'teams: []\n' });
    const small = await readProposalOffThread(bytes(body(3)), 'proposal', 100_000);
    expect(small.ok && small.value.trace).toBe('json');
    const bad = body(1000);
    bad.trace[700]!.gpus = 0;
    const refused = await readProposalOffThread(bytes(bad), 'amend', 100_000);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.problem.message).toBe('the amendment is not valid: 2 problem(s)');
      // The title is not a field of an amendment; the job's size is out of range.
      expect(refused.problem.issues.map((i) => i.path)).toEqual(['trace.700.gpus', '(body)']);
      expect(refused.problem.issues[1]!.message).toContain('unknown field "title"');
    }
    const over = await readProposalOffThread(large, 'proposal', 999);
    expect(!over.ok && over.problem.issues).toEqual([{ path: 'trace', message: "the attached trace has 1000 jobs, more than the 999 this server analyses; attach at most 999 (the server's --max-trace-jobs)" }]);
  });

  it('answers every one of many large bodies sent at once', async () => {
    const n = MAX_BODY_READERS * 3 + 1;
    const reads = await Promise.all(Array.from({ length: n }, (_, i) => readProposalOffThread(bytes({ ...body(800), title: `t${i}` }), 'proposal', 100_000)));
    expect(reads.map((r) => (r.ok && 'title' in r.value.fields ? r.value.fields.title : null))).toEqual(Array.from({ length: n }, (_, i) => `t${i}`));
  });
});
