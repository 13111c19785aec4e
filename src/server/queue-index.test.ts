import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { StoredJob } from '../storage/port.js';
import { storedJob } from '../storage/test-fixtures.js';
import { orderQueue, QueueIndex, type QueueFilter } from './queue-index.js';

/** A pending job of team a, class batch, 1 GPU, by ana, submitted at its sequence number. */
function job(seq: number, over: Partial<StoredJob> = {}): StoredJob {
  return storedJob(seq, { team: 'a', class: 'batch', gpus: 1, submittedBy: 'ana', submittedAt: seq, ...over });
}

const TEAMS = ['a', 'b', 'c'];
const USERS = ['ana', 'bo', 'cy'];
const CLASSES = ['batch', 'prod'];
const FLAVORS = [null, 'h100', 'a100'];

describe('the orders of the queue page', () => {
  it('are the filtered queue in queue order, the reader’s jobs first when asked, like a plain filter and sort', () => {
    const jobArb = fc.record({ team: fc.constantFrom(...TEAMS), submittedBy: fc.constantFrom(...USERS), class: fc.constantFrom(...CLASSES), flavor: fc.constantFrom(...FLAVORS) });
    const filterArb = fc.record({
      teams: fc.option(fc.subarray(TEAMS).map((t) => new Set(t))),
      class: fc.option(fc.constantFrom(...CLASSES), { nil: undefined }),
      flavor: fc.option(fc.constantFrom(...FLAVORS), { nil: undefined }),
      user: fc.option(fc.constantFrom(...USERS), { nil: undefined }),
      mine: fc.constantFrom('first' as const, 'only' as const, undefined),
      me: fc.constantFrom(...USERS),
    });
    fc.assert(
      fc.property(fc.array(jobArb, { maxLength: 60 }), filterArb, (specs, f: QueueFilter) => {
        const jobs = specs.map((s, i) => job(i + 1, s));
        const matching = jobs.filter((j) => (f.teams === null || f.teams.has(j.team)) && (f.class === undefined || j.class === f.class) && (f.flavor === undefined || j.flavor === f.flavor) && (f.user === undefined || j.submittedBy === f.user));
        const own = (j: StoredJob): number => (j.submittedBy === f.me ? 0 : 1);
        const expected = f.mine === 'only' ? matching.filter((j) => own(j) === 0) : f.mine === 'first' ? [...matching].sort((x, y) => own(x) - own(y) || x.seq - y.seq) : matching;
        const order = orderQueue(jobs, f);
        expect(order.ordered.map((j) => j.id)).toEqual(expected.map((j) => j.id));
        expect(order.mine).toBe(matching.filter((j) => own(j) === 0).length);
        expect(order.pending).toBe(jobs.length);
      }),
    );
  });

  it('are computed once per change of the pending jobs, whoever reads them, and again after a change', () => {
    let version = 1;
    let jobs = [job(1), job(2, { submittedBy: 'bo' }), job(3, { team: 'b' })];
    let reads = 0;
    const index = new QueueIndex(() => {
      reads++;
      return { version, jobs };
    });
    const filter: QueueFilter = { teams: null, mine: 'first', me: 'bo' };
    const first = index.order(filter);
    expect(first.ordered.map((j) => j.id)).toEqual(['j-2', 'j-1', 'j-3']);
    // The same filter (a fresh Set of the same teams too) is the same kept order until a change.
    expect(index.order({ ...filter })).toBe(first);
    const byTeam = index.order({ teams: new Set(['b', 'a']), me: 'ana' });
    expect(index.order({ teams: new Set(['a', 'b']), me: 'ana' })).toBe(byTeam);
    expect(reads).toBe(4);
    version = 2;
    jobs = [job(2, { submittedBy: 'bo' }), job(3, { team: 'b' }), job(4, { submittedBy: 'bo' })];
    const after = index.order(filter);
    expect(after).not.toBe(first);
    expect(after.ordered.map((j) => j.id)).toEqual(['j-2', 'j-4', 'j-3']);
    expect(after.mine).toBe(2);
  });
});
