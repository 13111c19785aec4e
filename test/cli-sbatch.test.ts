// `arbiter sbatch`: a batch script's #SBATCH lines read as sbatch reads them (GPUs, type, time,
// name, account as team; placement directives named as ignored; unknown ones refused with the
// line), options overriding them, and the script run by its own interpreter with its arguments:
// end to end against a server with the local executor, whose job output shows what ran.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBatchScript, slurmDuration } from '../src/cli/commands/sbatch.js';
import { api, assertDistFresh, cli, jobUser, startServer, stopAllServers, tempDir, waitFor, writeFile, type Api, type Job, type Server } from './server-harness.js';

describe('#SBATCH lines', () => {
  it('give GPUs (per node times nodes), type as Arbiter names the flavor, time in Slurm formats, name and account', () => {
    const problems: string[] = [];
    const script = '#!/bin/bash\n# a comment\n#SBATCH --gres=gpu:A100:4 -N 2\n#SBATCH --time=1-02:03:04   # a day and more\n#SBATCH -J train --account=vision\n#SBATCH --partition=gpu -w gpu2 --mem=10G\n\nsrun python train.py\n#SBATCH --gpus=99\n';
    expect(parseBatchScript(script, 'train.sh', problems)).toEqual({
      gpus: 8,
      gpuType: 'a100',
      timeLimit: 86_400 + 2 * 3600 + 3 * 60 + 4,
      name: 'train',
      account: 'vision',
      ignored: [
        'train.sh:6: --partition=gpu (Arbiter schedules its own partition)',
        'train.sh:6: -w gpu2 (Arbiter places jobs)',
        'train.sh:6: --mem=10G (Arbiter schedules GPUs only)',
      ],
    });
    expect(problems).toEqual([]);
    expect(parseBatchScript('#!/bin/sh\n#SBATCH -G 3\n', 's', problems).gpus).toBe(3);
    expect([slurmDuration('90'), slurmDuration('10:30'), slurmDuration('2-12'), slurmDuration('1:00:00')]).toEqual([5400, 630, 216_000, 3600]);
  });

  it('refuse unknown directives, bad values and a script without #!, naming the line', () => {
    const problems: string[] = [];
    parseBatchScript('#!/bin/bash\n#SBATCH --array=1-10\n#SBATCH --gpus=zero --time=soon\n', 'a.sh', problems);
    expect(problems).toEqual([
      'a.sh:2: --array=1-10: not an option arbiter sbatch knows; it takes --gpus, --gres=gpu, --gpus-per-node, --nodes, --time, --job-name and --account (docs/slurm.md)',
      'a.sh:3: --gpus=zero: expected a positive integer, got "zero"',
      'a.sh:3: --time=soon: expected a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), got "soon"',
    ]);
    const none: string[] = [];
    parseBatchScript('echo hi\n', 'b.sh', none);
    expect(none).toEqual(['b.sh:1: a batch script starts with #! and the path of its interpreter (e.g. #!/bin/bash), as for sbatch']);
  });
});

describe('arbiter sbatch against a server', () => {
  let server: Server;
  let client: Api;
  let dir: string;
  beforeAll(async () => {
    assertDistFresh();
    dir = tempDir('arbiter-sbatch-');
    const policy = writeFile(dir, 'policy.yaml', 'teams:\n  - name: vision\n  - name: ops\n');
    server = await startServer(path.join(dir, 'data'), { args: ['--executor', 'local', '--gpus', '2', '--policy', policy, '--run-as', jobUser().name] });
    client = api(server);
  }, 60_000);
  afterAll(async () => {
    await stopAllServers();
  });

  const env = (): Record<string, string> => ({ ARBITER_SERVER: server.url, ARBITER_TOKEN: server.adminToken });

  it('submits the script with what its #SBATCH lines ask, and runs it with its interpreter and arguments', async () => {
    // Bash-only syntax and quotes: the script must reach bash as written.
    const script = writeFile(dir, 'train.sh', `#!/bin/bash\n#SBATCH --gpus=2 --time=10 --job-name=probe --account=vision\n#SBATCH --output=out.log\nwords=("it's" "$1" "$2")\necho "ran: \${words[*]} gpus=$CUDA_VISIBLE_DEVICES"\n`);
    const run = await cli(['sbatch', script, 'first arg', 'second'], env());
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe(`arbiter sbatch: ignored ${script}:3: --output=out.log (output goes to the server's DATA/logs/<job id>.log)\n`);
    const id = /^Submitted batch job (j-\d+) \(running\)$/.exec(run.stdout.trim())?.[1];
    expect(id, run.stdout).toBeDefined();
    const job = (await client.get<Job & { timeLimit: number | null }>(`/v1/jobs/${id!}`)).body;
    expect({ team: job.team, gpus: job.gpus, name: job.name, timeLimit: job.timeLimit }).toEqual({ team: 'vision', gpus: 2, name: 'probe', timeLimit: 600 });
    const log = path.join(server.data, 'logs', `${id!}.log`);
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('ran:'), `the job's output\n${server.output().slice(-1000)}`, 15_000, 100);
    expect(readFileSync(log, 'utf8')).toContain("ran: it's first arg second gpus=0,1");
  });

  it('lets options override the script, prints only the id with --parsable, and refuses a script it cannot submit', async () => {
    const script = writeFile(dir, 'small.sh', '#!/bin/sh\n#SBATCH --gpus=2 --account=vision\ntrue\n');
    const run = await cli(['sbatch', '--team', 'ops', '--gpus', '1', '--time', '1:00:00', '--parsable', script], env());
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(/^j-\d+$/);
    const job = (await client.get<Job & { timeLimit: number | null }>(`/v1/jobs/${run.stdout.trim()}`)).body;
    expect({ team: job.team, gpus: job.gpus, name: job.name, timeLimit: job.timeLimit }).toEqual({ team: 'ops', gpus: 1, name: 'small.sh', timeLimit: 3600 });

    const bad = writeFile(dir, 'bad.sh', '#!/bin/sh\n#SBATCH --array=1-4\ntrue\n');
    const refused = await cli(['sbatch', bad], env());
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`${bad}:2: --array=1-4: not an option arbiter sbatch knows`);
    expect(refused.stderr).toContain('--team: which team the job belongs to');
    expect(refused.stderr).toContain('--gpus: how many GPUs the job needs');
    const missing = await cli(['sbatch', path.join(dir, 'nope.sh')], env());
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('nope.sh: cannot read the batch script (ENOENT)');
    const help = await cli(['sbatch', '--help'], {});
    expect(help.stdout).toContain('Usage: arbiter sbatch [options] <script> [args...]');
  });
});
