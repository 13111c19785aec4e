// `arbiter sbatch`: a thin sbatch-like wrapper for users of a Slurm partition that Arbiter
// schedules (docs/slurm.md, "What users do"). It reads the #SBATCH lines of a batch script the way
// sbatch does (only those before the first command), takes what Arbiter needs from them (GPUs,
// GPU type, time limit, name, account as team), lets command-line options override them, and
// submits the script to Arbiter's API (POST /v1/jobs) as the job's command. Where and when the
// job runs is Arbiter's decision, so directives about placement (partition, nodelist) and about
// what Slurm itself would do are named on stderr as ignored; a directive it does not know is an
// error, so a script never runs differently from what its author asked without being told.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { DURATION_HELP, durationFlag, positiveIntegerFlag } from '../flags.js';
import { flavorOfGpuType } from '../../executors/slurm-fleet.js';
import { call, withConnection, type Connection } from './client.js';

/** What a batch script's #SBATCH lines ask for. */
export interface BatchDirectives {
  /** GPUs in all (per node times nodes), or undefined when none is asked for. */
  gpus?: number;
  gpuType?: string;
  /** Seconds. */
  timeLimit?: number;
  name?: string;
  account?: string;
  /** Directives that Arbiter does not honor, with why ("--partition=gpu (Arbiter places jobs)"). */
  ignored: string[];
}

/** Directives taken with a value: long name -> its short letter, if any. */
const VALUE_OPTIONS: Record<string, string | undefined> = {
  gpus: 'G',
  gres: undefined,
  'gpus-per-node': undefined,
  nodes: 'N',
  time: 't',
  'job-name': 'J',
  account: 'A',
};
/** Directives that do not change what Arbiter runs, and why they are ignored. */
const IGNORED: Record<string, string> = {
  partition: 'Arbiter schedules its own partition',
  p: 'Arbiter schedules its own partition',
  nodelist: 'Arbiter places jobs',
  w: 'Arbiter places jobs',
  exclude: 'Arbiter places jobs',
  x: 'Arbiter places jobs',
  exclusive: 'Arbiter places jobs',
  output: 'output goes to the server\'s DATA/logs/<job id>.log',
  o: 'output goes to the server\'s DATA/logs/<job id>.log',
  error: 'output goes to the server\'s DATA/logs/<job id>.log',
  e: 'output goes to the server\'s DATA/logs/<job id>.log',
  'open-mode': 'output goes to the server\'s DATA/logs/<job id>.log',
  qos: 'Arbiter\'s policy decides priority (--class)',
  q: 'Arbiter\'s policy decides priority (--class)',
  priority: 'Arbiter\'s policy decides priority (--class)',
  nice: 'Arbiter\'s policy decides priority (--class)',
  requeue: 'Arbiter requeues preempted jobs itself',
  'no-requeue': 'Arbiter requeues preempted jobs itself',
  'mail-type': 'not supported; Arbiter has webhooks (docs/webhooks.md)',
  'mail-user': 'not supported; Arbiter has webhooks (docs/webhooks.md)',
  mem: 'Arbiter schedules GPUs only',
  'mem-per-cpu': 'Arbiter schedules GPUs only',
  'mem-per-gpu': 'Arbiter schedules GPUs only',
  'cpus-per-task': 'Arbiter schedules GPUs only',
  c: 'Arbiter schedules GPUs only',
  'cpus-per-gpu': 'Arbiter schedules GPUs only',
  ntasks: 'Arbiter submits one task per node; start more with srun in the script',
  n: 'Arbiter submits one task per node; start more with srun in the script',
  'ntasks-per-node': 'Arbiter submits one task per node; start more with srun in the script',
  chdir: 'jobs start in the server\'s working folder; cd in the script',
  D: 'jobs start in the server\'s working folder; cd in the script',
  comment: 'Arbiter marks its jobs with the comment',
};

/** Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; seconds, or a message. */
export function slurmDuration(text: string): number | string {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text.trim());
  if (!m) return `expected a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), got "${text}"`;
  const [, d, a, b, c] = m;
  const n = (x: string | undefined): number => Number(x ?? 0);
  if (d !== undefined) return n(d) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c);
  if (c !== undefined) return n(a) * 3600 + n(b) * 60 + n(c);
  if (b !== undefined) return n(a) * 60 + n(b);
  return n(a) * 60;
}

/**
 * The #SBATCH directives of a batch script (`file` names it in messages). Problems (an unknown
 * directive, a bad value) are added to `problems` with the line they are on.
 */
export function parseBatchScript(text: string, file: string, problems: string[]): BatchDirectives {
  const lines = text.split('\n');
  const out: BatchDirectives = { ignored: [] };
  if (!lines[0]?.startsWith('#!')) {
    problems.push(`${file}:1: a batch script starts with #! and the path of its interpreter (e.g. #!/bin/bash), as for sbatch`);
    return out;
  }
  let perNode: number | undefined;
  let nodes = 1;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    // As sbatch: directives are read up to the first line that is not a comment or blank.
    if (line !== '' && !line.startsWith('#')) break;
    const directive = /^#SBATCH\s+(.*)$/.exec(line);
    if (!directive) continue;
    const where = `${file}:${i + 1}`;
    // Arguments of one line, a trailing comment dropped.
    const args = directive[1]!.replace(/\s#.*$/, '').split(/\s+/).filter((a) => a !== '');
    for (let k = 0; k < args.length; k++) {
      const arg = args[k]!;
      const long = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
      const short = /^-([a-zA-Z])(.*)$/.exec(arg);
      if (!long && !short) {
        problems.push(`${where}: expected an option such as --gpus=4, got "${arg}"`);
        continue;
      }
      const key = long ? long[1]! : Object.keys(VALUE_OPTIONS).find((o) => VALUE_OPTIONS[o] === short![1]) ?? short![1]!;
      let value = long ? long[2] : short![2] !== '' ? short![2]!.replace(/^=/, '') : undefined;
      if (IGNORED[key] !== undefined) {
        out.ignored.push(`${where}: ${arg}${value === undefined && args[k + 1] && !args[k + 1]!.startsWith('-') ? ` ${args[++k]!}` : ''} (${IGNORED[key]})`);
        continue;
      }
      if (!(key in VALUE_OPTIONS)) {
        problems.push(`${where}: ${arg}: not an option arbiter sbatch knows; it takes --gpus, --gres=gpu, --gpus-per-node, --nodes, --time, --job-name and --account (docs/slurm.md)`);
        continue;
      }
      if (value === undefined) value = args[++k];
      if (value === undefined || value === '') {
        problems.push(`${where}: ${arg} needs a value`);
        continue;
      }
      const count = (text: string, what: string): number | undefined => {
        const n = Number(text);
        if (Number.isSafeInteger(n) && n >= 1) return n;
        problems.push(`${where}: ${what}: expected a positive integer, got "${text}"`);
        return undefined;
      };
      // gpu counts come as [type:]N ("a100:4", "4"); --gres as gpu[:type]:N.
      const typed = (text: string, what: string): void => {
        const parts = text.split(':');
        const n = count(parts[parts.length - 1]!, what);
        if (parts.length > 2) problems.push(`${where}: ${what}: expected [type:]count, got "${text}"`);
        else if (n !== undefined) {
          // Slurm's GPU type as Arbiter names the flavor (fleet import: A100 -> a100).
          if (parts.length === 2) out.gpuType = flavorOfGpuType(parts[0]!);
          if (key === 'gpus') out.gpus = n;
          else perNode = n;
        }
      };
      if (key === 'gpus') typed(value, arg);
      else if (key === 'gpus-per-node') typed(value, arg);
      else if (key === 'gres') {
        const gpu = value.split(',').find((g) => g === 'gpu' || g.startsWith('gpu:'));
        if (gpu === undefined) out.ignored.push(`${where}: ${arg} (no GPUs in it: Arbiter schedules GPUs only)`);
        else typed(gpu === 'gpu' ? '1' : gpu.slice('gpu:'.length), arg);
      } else if (key === 'nodes') {
        const n = count(value, arg);
        if (n !== undefined) nodes = n;
      } else if (key === 'time') {
        const seconds = slurmDuration(value);
        if (typeof seconds === 'string') problems.push(`${where}: ${arg}: ${seconds}`);
        else if (seconds === 0) problems.push(`${where}: ${arg}: a time limit lasts more than 0 seconds (Slurm's 0 means none: leave it out)`);
        else out.timeLimit = seconds;
      } else if (key === 'job-name') out.name = value;
      else out.account = value;
    }
  }
  if (out.gpus === undefined && perNode !== undefined) out.gpus = perNode * nodes;
  return out;
}

/** The job's command: the script run by its own interpreter (its #! line), with the given arguments. */
export function batchCommand(script: string, file: string, args: readonly string[]): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const interpreter = script.split('\n')[0]!.slice(2).trim();
  return `exec ${interpreter} -c ${quote(script)} ${[file, ...args].map(quote).join(' ')}`;
}

interface SbatchFlags extends Connection {
  team?: string;
  gpus?: string;
  gpuType?: string;
  time?: string;
  jobName?: string;
  class?: string;
  parsable?: boolean;
}

export function registerSbatch(program: Command): void {
  withConnection(
    program
      .command('sbatch')
      .description('submit a Slurm batch script to Arbiter (#SBATCH --gpus, --gres=gpu, --nodes, --time, --job-name, --account are read; options override them)')
      .argument('<script>', 'batch script, starting with #! and its interpreter')
      .argument('[args...]', 'arguments of the script')
      .addHelpText(
        'after',
        `
Like sbatch, for a partition that Arbiter schedules: the script's #SBATCH lines (up to its first
command) give the GPUs (--gpus=[type:]N, --gres=gpu[:type]:N or --gpus-per-node with --nodes),
the time limit (--time, Slurm's formats), the name (--job-name) and the team (--account).
Arbiter decides where and when it runs: --partition, --nodelist, --output, --mem and the like
are named as ignored on stderr; an option it does not know is an error. The script runs with
its own interpreter as the job's command (its output: the server's DATA/logs/<job id>.log).

Examples:
  arbiter sbatch train.sh
  arbiter sbatch --team vision --gpus 16 --time 2:00:00 train.sh --epochs 3`,
      ),
  )
    .option('--team <team>', 'the leaf team it belongs to (default: #SBATCH --account)')
    .option('--gpus <n>', 'GPUs it needs in all (default: from #SBATCH)')
    .option('--gpu-type <type>', 'GPU flavor (default: #SBATCH type, else any)')
    .option('--time <time>', `time limit, Slurm's formats (90, 1:30:00, 2-00) or ${DURATION_HELP} (default: #SBATCH --time, else none)`)
    .option('--job-name <name>', 'a name for people (default: #SBATCH --job-name, else the script\'s file name)')
    .option('--class <class>', "priority class (default: the policy's defaultClass)")
    .option('--parsable', 'print only the job id', false)
    .action(async (file: string, args: string[], flags: SbatchFlags) => {
      const problems: string[] = [];
      let script: string;
      try {
        script = readFileSync(file, 'utf8');
      } catch (error) {
        throw new UsageError([`${file}: cannot read the batch script (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
      }
      const directives = parseBatchScript(script, file, problems);
      const gpus = flags.gpus !== undefined ? positiveIntegerFlag(flags.gpus, '--gpus', problems) : directives.gpus;
      let timeLimit = directives.timeLimit;
      if (flags.time !== undefined) {
        const slurm = slurmDuration(flags.time);
        timeLimit = typeof slurm === 'number' && slurm > 0 ? slurm : durationFlag(flags.time, '--time', problems, { positive: 'a time limit lasts more than 0 seconds' });
      }
      const team = flags.team ?? directives.account;
      if (team === undefined) problems.push(`--team: which team the job belongs to (or #SBATCH --account=TEAM in ${file})`);
      if (gpus === undefined && flags.gpus === undefined) problems.push(`--gpus: how many GPUs the job needs (or #SBATCH --gpus=N in ${file})`);
      if (problems.length > 0) throw new UsageError(problems);
      for (const line of directives.ignored) process.stderr.write(`arbiter sbatch: ignored ${line}\n`);
      const body = {
        team,
        gpus,
        name: flags.jobName ?? directives.name ?? file.split('/').pop()!,
        command: batchCommand(script, file, args),
        ...(flags.gpuType !== undefined ? { flavor: flavorOfGpuType(flags.gpuType) } : directives.gpuType !== undefined ? { flavor: directives.gpuType } : {}),
        ...(timeLimit !== undefined ? { timeLimit } : {}),
        ...(flags.class !== undefined ? { class: flags.class } : {}),
      };
      const job = (await call(flags, 'POST', '/v1/jobs', body)) as { id: string; status: string; reason?: { message: string } | null };
      const line = flags.json ? JSON.stringify(job, null, 2) : flags.parsable ? job.id : `Submitted batch job ${job.id} (${job.status}${job.reason ? `: ${job.reason.message}` : ''})`;
      process.stdout.write(`${line}\n`);
    });
}
