// The dashboard: sign in with a token, then the views of docs/dashboard.md. Routes are paths
// under /ui/ (the server answers index.html for all of them), so every view has a URL.
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiFailure, prefetch, session, subscribe, whoAmI } from './api';
import { assignColours } from './format';
import type { Team } from './types';
import type { LiveState } from './api';
import { SharedContext } from './state';
import type { Me } from './types';
import { TeamsView } from './views/teams';
import { QueueView, queueFirstReads } from './views/queue';
import { JobView } from './views/job';
import { FleetView } from './views/fleet';
import { GovernanceView } from './views/governance';
import { UsageView } from './views/usage';
import './style.css';

const VIEWS = [
  { path: '/ui/teams', label: 'Teams' },
  { path: '/ui/usage', label: 'Usage' },
  { path: '/ui/queue', label: 'Queue' },
  { path: '/ui/fleet', label: 'Fleet' },
  { path: '/ui/governance', label: 'Governance' },
] as const;

function SignIn({ problem, onSignedIn }: { problem: string | null; onSignedIn: (me: Me) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(problem);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    session.signIn(token.trim());
    try {
      onSignedIn(await signIn());
    } catch (e) {
      session.signOut();
      setError(
        e instanceof ApiFailure && e.status === 401
          ? 'This token is unknown or revoked.'
          : `Could not sign in: ${(e as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Arbiter</h1>
      <p>
        Paste your API token (from <code>arbiter token create</code>, or <code>arbiter-data/admin-token</code>{' '}
        on the demo server). It is kept for this browser tab only.
      </p>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">Token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </main>
  );
}

/** Who the token is: the first view renders once this is known (its own reads are already out). */
const signIn = (): Promise<Me> => whoAmI();

/**
 * The teams' colours, from the team tree's order (so teams shown together differ; until it is
 * read, and without it, they come from the names). Read beside sign-in, not before the first
 * view: the page re-renders when they arrive.
 */
function loadColours(): Promise<void> {
  return api<{ teams: Team[] }>('/v1/teams').then(
    ({ teams }) => {
      const names: string[] = [];
      const visit = (t: Team): void => {
        names.push(t.name);
        t.children.forEach(visit);
      };
      teams.forEach(visit);
      assignColours(names);
    },
    () => undefined,
  );
}

function route(path: string): { view: string; id?: string } {
  const job = /^\/ui\/jobs\/([^/]+)$/.exec(path);
  if (job) return { view: 'job', id: decodeURIComponent(job[1]!) };
  const proposal = /^\/ui\/governance\/([^/]+)$/.exec(path);
  if (proposal) return { view: 'governance', id: decodeURIComponent(proposal[1]!) };
  const name = /^\/ui\/(\w+)/.exec(path)?.[1];
  return { view: name ?? 'teams' };
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(session.token() !== null);
  const [path, setPath] = useState(location.pathname);
  const [live, setLive] = useState(0);
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  const [, setColoured] = useState(false);

  useEffect(() => {
    if (me) void loadColours().then(() => setColoured(true));
  }, [me]);

  useEffect(() => {
    if (session.token() === null) return;
    signIn().then(
      (m) => {
        setMe(m);
        setChecking(false);
      },
      (e: unknown) => {
        session.signOut();
        setProblem(
          e instanceof ApiFailure && e.status === 401
            ? 'Your token is no longer valid; sign in again.'
            : `Could not reach the server: ${(e as Error).message}`,
        );
        setChecking(false);
      },
    );
  }, []);

  useEffect(() => {
    const onPop = (): void => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  // One event stream per page; a burst of events is one read per view (coalesced per frame).
  useEffect(() => {
    if (!me) return;
    let frame = 0;
    return subscribe(() => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setLive((n) => n + 1);
      });
    }, setLiveState);
  }, [me]);

  const navigate = (to: string): void => {
    history.pushState(null, '', to);
    setPath(to);
    scrollTo(0, 0);
  };
  const shared = useMemo(() => (me ? { me, live, navigate } : null), [me, live]);

  if (checking) return <p class="loading">Signing in…</p>;
  if (!me || !shared) return <SignIn problem={problem} onSignedIn={setMe} />;

  const current = route(path);
  const title =
    current.view === 'job'
      ? `Job ${current.id ?? ''}`
      : (VIEWS.find((v) => v.path === `/ui/${current.view}`)?.label ?? 'Teams');
  document.title = `${title} · Arbiter`;
  return (
    <SharedContext.Provider value={shared}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Arbiter</span>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <a
              href={v.path}
              aria-current={current.view === v.path.slice(4) ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(v.path);
              }}
            >
              {v.label}
            </a>
          ))}
        </nav>
        <span
          class={`live ${liveState}`}
          role="status"
          title="Changes on the server reach this page as they happen"
        >
          {liveState === 'live' ? '● live' : liveState === 'connecting' ? '○ connecting' : '○ reconnecting'}
        </span>
        <span class="who">
          {me.user} · {me.role}
          {me.team ? ` of ${me.team}` : ''}
        </span>
        <button
          type="button"
          class="link"
          onClick={() => {
            session.signOut();
            setMe(null);
            setProblem(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {current.view === 'queue' ? (
          <QueueView />
        ) : current.view === 'job' ? (
          <JobView id={current.id!} />
        ) : current.view === 'usage' ? (
          <UsageView />
        ) : current.view === 'fleet' ? (
          <FleetView />
        ) : current.view === 'governance' ? (
          <GovernanceView id={current.id ?? null} />
        ) : (
          <TeamsView />
        )}
      </main>
    </SharedContext.Provider>
  );
}

// Sign-in's reads and the first view's go out together, now, not one round trip after another
// (the queue page at 100,000 pending jobs, BENCHMARKS.md "Dashboard").
prefetch('/v1/me');
prefetch('/v1/teams');
if (route(location.pathname).view === 'queue') queueFirstReads().forEach(prefetch);

render(<App />, document.getElementById('app')!);
