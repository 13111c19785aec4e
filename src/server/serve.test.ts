// The start-up's choice of the user jobs run as (the rest of start-up is tested through the real
// server in test/). Root's refusals are tested there too (test/job-isolation.test.ts); a server
// that is not root is this test's: the suite itself runs as root.
import { describe, expect, it } from 'vitest';
import { resolveRunAs, StartupError } from './serve.js';

describe('resolveRunAs', () => {
  it('a server that is not root refuses --run-as and --run-as-team: switching users needs root', async () => {
    for (const options of [{ runAs: 'nobody' }, { runAsTeams: { default: 'nobody' } }]) {
      const refused: unknown = await resolveRunAs({ executor: 'local', ...options }, 1000).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StartupError);
      expect((refused as StartupError).lines).toEqual([
        '--run-as: switching to another user needs the server to start as root (it uses setuid/setgid when it starts a job; this server runs as uid 1000). Start it as root with --run-as USER, or without --run-as to run jobs as this user',
      ]);
    }
  });

  it('a server that is not root without --run-as runs jobs as itself; root must name a user', async () => {
    expect(await resolveRunAs({ executor: 'local' }, 1000)).toBeNull();
    await expect(resolveRunAs({ executor: 'local' }, 0)).rejects.toThrow(/--executor local as root needs --run-as USER/);
  });

  it('finds the users in the passwd database, a team mapping beside the default', async () => {
    const runAs = await resolveRunAs({ executor: 'local', runAs: 'nobody', runAsTeams: { research: 'daemon' } }, 0);
    expect(runAs?.default).toMatchObject({ name: 'nobody', uid: 65534 });
    expect(runAs?.teams.get('research')).toMatchObject({ name: 'daemon' });
    await expect(resolveRunAs({ executor: 'simulated', runAs: 'nobody' }, 0)).rejects.toThrow(/--executor local only/);
  });
});
