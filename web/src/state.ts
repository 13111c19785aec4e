// What every view shares: the signed-in user, the team tree, and the live counter that moves
// whenever the server says something changed (views that read with useApi read again then).
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiFailure } from './api';
import type { Me, Team } from './types';

export interface Shared {
  readonly me: Me;
  /** Moves on every change event (GET /v1/events). */
  readonly live: number;
  readonly navigate: (path: string) => void;
}

export const SharedContext = createContext<Shared | null>(null);

export function useShared(): Shared {
  const shared = useContext(SharedContext);
  if (!shared) throw new Error('useShared outside the app');
  return shared;
}

export interface Loaded<T> {
  readonly data: T | null;
  readonly error: ApiFailure | Error | null;
  /** Reads again now (after an action). */
  readonly reload: () => void;
}

/**
 * GET `path` (null: nothing to read yet), again whenever it changes or (unless `live` is false)
 * the server announces a change. The last answer stays on screen while the next one is read (no flicker), and answers
 * that arrive out of order are dropped.
 */
export function useApi<T>(path: string | null, options: { live?: boolean } = {}): Loaded<T> {
  const shared = useShared();
  // Reference data (the team tree for a filter, the classes) is read once, not on every change.
  const live = options.live === false ? 0 : shared.live;
  const [state, setState] = useState<{
    data: T | null;
    error: ApiFailure | Error | null;
    path: string | null;
  }>({ data: null, error: null, path: null });
  const [nonce, setNonce] = useState(0);
  const asked = useRef(0);
  useEffect(() => {
    if (path === null) return;
    const ticket = ++asked.current;
    api<T>(path).then(
      (data) => ticket === asked.current && setState({ data, error: null, path }),
      (error: unknown) =>
        ticket === asked.current &&
        setState((s) => ({
          data: s.path === path ? s.data : null,
          error: error instanceof Error ? error : new Error(String(error)),
          path,
        })),
    );
  }, [path, live, nonce]);
  return {
    data: state.path === path ? state.data : null,
    error: state.path === path ? state.error : null,
    reload: () => setNonce((n) => n + 1),
  };
}

/** Every team of the tree with its parent (null at the top). */
export function parents(teams: readonly Team[]): Map<string, string | null> {
  const map = new Map<string, string | null>();
  const visit = (t: Team, parent: string | null): void => {
    map.set(t.name, parent);
    t.children.forEach((c) => visit(c, t.name));
  };
  teams.forEach((t) => visit(t, null));
  return map;
}

function atOrBelow(tree: Map<string, string | null>, top: string, team: string): boolean {
  for (let t: string | null | undefined = team; t != null; t = tree.get(t)) if (t === top) return true;
  return false;
}

/**
 * Null when the signed-in role may take `action` on the subject, else the reason why not: the
 * same table as the server's (src/server/authorization.ts, read from GET /v1/me), so a button
 * is hidden or disabled with its reason; the server checks again and refuses anyway.
 */
export function refusal(
  me: Me,
  action: string,
  subject: {
    team?: string;
    job?: { team: string; submittedBy: string };
    tree?: Map<string, string | null>;
    affected?: readonly string[];
    author?: string;
  },
): string | null {
  const rule = me.rules[action];
  if (!rule) return `unknown action ${action}`;
  const scope = rule.scope;
  if (scope === null) return `a ${me.role} may not ${rule.what} (${rule.source})`;
  const tree = subject.tree ?? new Map<string, string | null>();
  const own = me.team;
  switch (scope) {
    case 'any':
      return null;
    case 'own-team':
      return own === subject.team
        ? null
        : `a ${me.role} of ${own ?? 'no team'} may ${rule.what} only in its own team`;
    case 'team-or-below':
      return own !== null && subject.team !== undefined && atOrBelow(tree, own, subject.team)
        ? null
        : `a ${me.role} of ${own ?? 'no team'} may ${rule.what} only in its team and the teams below it`;
    case 'own-job':
      return subject.job && subject.job.submittedBy === me.user && subject.job.team === own
        ? null
        : `a ${me.role} may ${rule.what} only for the jobs it submitted to its own team`;
    case 'job-in-team-or-below':
      return own !== null && subject.job && atOrBelow(tree, own, subject.job.team)
        ? null
        : `a ${me.role} of ${own ?? 'no team'} may ${rule.what} only for jobs of its team and the teams below it`;
    case 'author':
      return subject.author === me.user
        ? null
        : `only the author (${subject.author ?? '?'}) may ${rule.what}`;
    case 'speaks-for':
      return own !== null &&
        subject.team !== undefined &&
        (subject.affected ?? []).includes(subject.team) &&
        atOrBelow(tree, own, subject.team)
        ? null
        : `only the lead of an affected team (or of a team above it) may ${rule.what} for it`;
    case 'in-affected':
      return own !== null && (subject.affected ?? []).some((a) => atOrBelow(tree, a, own))
        ? null
        : `only members of an affected team (or a team below one) may ${rule.what}`;
    default:
      return `unknown condition ${scope}`;
  }
}
