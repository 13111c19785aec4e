// A group's entries (job-groups.ts) against a plain list: what a round has passed over, what is
// left (how many, the shortest time limit), the first entry at or after a key and the last one,
// and the first one whose time limit may backfill, through arrivals in order and out of order
// (inserts in the middle), departures, entries taken back (a rolled-back pass), passes, new rounds
// and compaction.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobGroup } from './job-groups.js';
import type { QueueEntry } from './team-queue.js';
import { entryBefore } from './team-queue.js';

type Op =
  | { kind: 'add'; submit: number; limit: number | null }
  | { kind: 'remove'; pick: number }
  | { kind: 'withdraw'; pick: number }
  | { kind: 'passBefore'; submit: number }
  | { kind: 'passThrough'; pick: number }
  | { kind: 'forget' }
  | { kind: 'compact' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('add' as const), submit: fc.integer({ min: 0, max: 50 }), limit: fc.option(fc.integer({ min: 1, max: 20 })) }), weight: 4 },
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('withdraw' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('passBefore' as const), submit: fc.integer({ min: 0, max: 51 }) }),
  fc.record({ kind: fc.constant('passThrough' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('forget' as const) }),
  fc.record({ kind: fc.constant('compact' as const) }),
);

describe('JobGroup entries', () => {
  it('agree with a plain sorted list under any sequence of changes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const group = new JobGroup(0, 100, true, -1, 1);
        // The model: live entries with their limits, and the key before which the round has passed.
        const live: { entry: QueueEntry; limit: number | null }[] = [];
        let passedKey: QueueEntry | null = null;
        let passedAll = false;
        let position = 0;
        const key = (submit: number, pos: number): QueueEntry => ({ job: -1, priority: 100, attained: 0, submit, position: pos, live: false });
        const isPassed = (e: QueueEntry): boolean => passedAll || (passedKey !== null && entryBefore(e, passedKey));
        for (const o of ops) {
          if (o.kind === 'add') {
            const entry: QueueEntry = { job: position, priority: 100, attained: 0, submit: o.submit, position: position++, live: true };
            // Entries arrive behind the passed part only (as a pass requeues victims before its round starts).
            if (isPassed(entry)) continue;
            group.add(entry, o.limit);
            live.push({ entry, limit: o.limit });
            live.sort((a, b) => (entryBefore(a.entry, b.entry) ? -1 : 1));
          } else if (o.kind === 'remove') {
            if (live.length === 0) continue;
            const [gone] = live.splice(o.pick % live.length, 1);
            gone!.entry.live = false;
            group.remove(gone!.entry);
          } else if (o.kind === 'withdraw') {
            // A rolled-back pass takes back an entry it added: as if it had never been there.
            if (live.length === 0) continue;
            const [gone] = live.splice(o.pick % live.length, 1);
            group.withdraw(gone!.entry);
          } else if (o.kind === 'passBefore') {
            const k = key(o.submit, -1);
            if (passedAll || (passedKey !== null && !entryBefore(passedKey, k))) continue;
            group.passBefore(k);
            passedKey = k;
          } else if (o.kind === 'passThrough') {
            if (live.length === 0) continue;
            const e = live[o.pick % live.length]!.entry;
            if (isPassed(e)) continue;
            group.passThrough(e);
            const i = live.findIndex((x) => x.entry === e);
            if (i + 1 < live.length) passedKey = live[i + 1]!.entry;
            else passedAll = true;
          } else if (o.kind === 'forget') {
            group.forgetVisits();
            passedKey = null;
            passedAll = false;
          } else {
            group.maybeCompact();
          }
          const left = live.filter((x) => !isPassed(x.entry));
          expect(group.pending).toBe(live.length);
          expect(group.passed).toBe(live.length - left.length);
          expect(group.hasUnvisited()).toBe(left.length > 0);
          const limits = left.map((x) => x.limit).filter((l): l is number => l !== null);
          expect(group.shortestTimeLimit()).toBe(limits.length === 0 ? null : Math.min(...limits));
          expect(group.last()).toBe(live.length === 0 ? null : live[live.length - 1]!.entry);
          for (const s of [0, 10, 25, 51]) {
            const k = key(s, -1);
            expect(group.firstFrom(k)).toBe(live.find((x) => !entryBefore(x.entry, k))?.entry ?? null);
          }
          if (live.length > 0) expect(group.firstAfter(live[0]!.entry)).toBe(live[1]?.entry ?? null);
          // The first entry from a live one (or after it) whose time limit ends by `end` (now 100).
          for (const [from, after, end] of [[0, false, 110], [Math.floor(live.length / 2), false, 105], [Math.floor(live.length / 3), true, 115]] as const) {
            if (from >= live.length) continue;
            const expected = live.slice(from + (after ? 1 : 0)).find((x) => x.limit !== null && 100 + x.limit <= end)?.entry ?? null;
            expect(group.firstBackfilling(live[from]!.entry, after, 100, end)).toBe(expected);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
