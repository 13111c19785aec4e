// The orders behind GET /v1/queue (docs/api.md, "The queue"). The pending jobs come in queue
// order from the loop (LiveScheduler.pendingInOrder), read once per change of the active jobs;
// each filter (team subtree, class, GPU type, user, and whose jobs go first) is applied to them
// once per such change too, and the answer kept until the next: an open dashboard re-reads its
// page on every change event, so 100 open pages showing the same filter cost one walk of the
// queue per change instead of 100. A page is then a slice of the kept order.
import type { StoredJob } from '../storage/port.js';

export interface QueueFilter {
  /** The team and the teams below it; null: every team. */
  readonly teams: ReadonlySet<string> | null;
  readonly class?: string | undefined;
  /** A GPU type; null: jobs that take any type; undefined: no filter. */
  readonly flavor?: string | null | undefined;
  readonly user?: string | undefined;
  /** 'first': the reader's own jobs before the others; 'only': only them; undefined: queue order. */
  readonly mine?: 'first' | 'only' | undefined;
  /** The reader (for `mine`, and the count of its jobs). */
  readonly me: string;
}

export interface QueueOrder {
  /** The matching jobs in the order pages are cut from. */
  readonly ordered: readonly StoredJob[];
  /** How many of the matching jobs are the reader's. */
  readonly mine: number;
  /** Every pending job, whatever the filter. */
  readonly pending: number;
}

/** One walk of the pending jobs (queue order) for one filter. */
export function orderQueue(pending: readonly StoredJob[], f: QueueFilter): QueueOrder {
  const mine: StoredJob[] = [];
  const others: StoredJob[] = [];
  let mineCount = 0;
  for (const job of pending) {
    if (f.teams !== null && !f.teams.has(job.team)) continue;
    if (f.class !== undefined && job.class !== f.class) continue;
    if (f.flavor !== undefined && job.flavor !== f.flavor) continue;
    if (f.user !== undefined && job.submittedBy !== f.user) continue;
    const own = job.submittedBy === f.me;
    if (own) mineCount++;
    if (f.mine !== undefined && own) mine.push(job);
    else if (f.mine !== 'only') others.push(job);
  }
  const ordered = f.mine === 'only' ? mine : f.mine === 'first' ? mine.concat(others) : others;
  return { ordered, mine: mineCount, pending: pending.length };
}

/** Kept orders for at most this many distinct filters between two changes (then the oldest go). */
const KEPT = 64;

export class QueueIndex {
  private version = -1;
  private readonly orders = new Map<string, QueueOrder>();

  constructor(private readonly source: () => { readonly version: number; readonly jobs: readonly StoredJob[] }) {}

  order(filter: QueueFilter): QueueOrder {
    const { version, jobs } = this.source();
    if (version !== this.version) {
      this.orders.clear();
      this.version = version;
    }
    const key = JSON.stringify([filter.teams === null ? null : [...filter.teams].sort(), filter.class, filter.flavor, filter.user, filter.mine, filter.me]);
    let order = this.orders.get(key);
    if (order === undefined) {
      order = orderQueue(jobs, filter);
      this.orders.set(key, order);
      if (this.orders.size > KEPT) this.orders.delete(this.orders.keys().next().value!);
    }
    return order;
  }
}
