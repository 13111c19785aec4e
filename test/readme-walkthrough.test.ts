// The README's quick start and governance walkthrough, followed literally: the shell commands
// are read from README.md's fenced blocks marked for this test (so README and test cannot
// drift), and run one by one with bash, as a user would type them, against a real server
// started as `npm start` does (the demo lab with its jobs and tokens), on a temporary data
// directory and a free port. `npx arbiter` is this checkout's bin/arbiter.js; the commands run in
// a folder that holds `arbiter-data` and a link to `examples`, as the repository root would.
// Each command must exit as expected and print what the README says it shows. A `sleep N` line
// is honoured as "within N seconds": the next command is retried until it shows what is
// expected, at most N seconds (plus slack for a loaded machine) later.
import { spawn } from 'node:child_process';
import { readFileSync, statSync, symlinkSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDistFresh, repoRoot, sleep, startServer, stopAllServers, tempDir } from './server-harness.js';
import type { Server } from './server-harness.js';

const MARK = '<!-- test/readme-walkthrough.test.ts runs this block, command by command -->';

/** The commands of the README's marked blocks, in order (continued lines joined; comments kept for bash). */
function walkthrough(readme: string): string[][] {
  const blocks: string[][] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARK) continue;
    if (lines[i + 1]?.trim() !== '```sh') throw new Error(`README.md:${i + 2}: a marked block must start with \`\`\`sh`);
    const commands: string[] = [];
    let pending = '';
    for (i += 2; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const line = lines[i]!;
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1)} `;
        continue;
      }
      const command = (pending + line).trim();
      pending = '';
      if (command !== '' && !command.startsWith('#')) commands.push(command);
    }
    blocks.push(commands);
  }
  return blocks;
}

interface Expectation {
  /** The command must start with this (after `VAR=... ` prefixes). */
  readonly command: string;
  readonly exit?: number;
  /** Patterns its stdout (and, for a refusal, stderr) must match. */
  readonly shows?: readonly RegExp[];
}

// What the README says each command shows, in the README's order.
const QUICK_START: readonly Expectation[] = [
  { command: 'export ARBITER_TOKEN=$(cat arbiter-data/admin-token)' },
  { command: 'npx arbiter jobs', shows: [/j-9 +│ eval-backlog .* pending .* WaitingForCapacity/, /j-1 +│ llm-pretrain-a .* running/] },
  {
    command: 'npx arbiter explain j-9',
    shows: [/j-9 \(eval-backlog\): pending, 8 GPUs of h100, team evals, class opportunistic/, /WaitingForCapacity: needs 8 h100 on one node/, /expected start: ~\S+ \(in ~[\d.]+h\), from time limits/],
  },
  { command: 'npx arbiter submit --team pretraining --gpus 8 --flavor h100', shows: [/^submitted j-10 \(pending: WaitingForCapacity: /] },
  { command: 'npx arbiter explain j-10', shows: [/j-10 \(first-run\): pending/, /reserved for it/, /expected start: ~\S+ \(in ~[\d.]+h\), from time limits/] },
  {
    command: 'npx arbiter submit --team pretraining --gpus 1000',
    exit: 2,
    shows: [/400 invalid_input: the job can never run under the policy in force/, /team pretraining may hold at most 160 h100 GPUs \(its limit\)/, /the largest gang the fleet can place is 24 nodes x 8 h100/],
  },
  { command: 'npx arbiter teams', shows: [/pretraining +│ h100 +│ 80 +│ 160 +│ 128 /] },
  { command: 'npx arbiter fleet', shows: [/h100-a-0 +│ h100 +│ 0\/8 +│ j-1 \(pretraining\) 8/] },
  { command: 'npx arbiter demo', shows: [/Outputs \(jobs.csv, segments.csv, summary.json, report.html\) are in out\/demo\//] },
];

const GOVERNANCE: readonly Expectation[] = [
  { command: 'npx arbiter propose --policy examples/lab/proposals/more-h100-for-evals.yaml', shows: [/^proposed p-1: More H100 for evals/, /class: material/] },
  { command: 'npx arbiter proposal show p-1', shows: [/status: consultation +class: material/, /affected: research, pretraining/] },
  { command: 'ARBITER_TOKEN=$(cat arbiter-data/tokens/lead-pretraining.token) npx arbiter respond p-1', shows: [/^response \(consent\) recorded: p-1/] },
  { command: 'ARBITER_TOKEN=$(cat arbiter-data/tokens/lead-research.token) npx arbiter respond p-1', shows: [/^response \(consent\) recorded: p-1/] },
  { command: 'ARBITER_TOKEN=$(cat arbiter-data/tokens/council.token) npx arbiter vote p-1', shows: [/vote \(approve\) recorded; 1 of 1 council members voted/] },
  { command: 'sleep 60' },
  { command: 'npx arbiter proposal show p-1', shows: [/status: active +class: material/] },
  { command: 'npx arbiter policy versions', shows: [/│ 2 +│ .* p-1 step 1 /, /│ 3 +│ yes .* p-1 step 2 /] },
  { command: 'npx arbiter teams', shows: [/evals +│ h100 +│ 32 /, /pretraining +│ h100 +│ 64 +│ 96 /] },
  { command: 'npx arbiter audit verify --data arbiter-data' },
];

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let server: Server;
let home: string;
/** `export` lines run so far: each command runs in a new bash after them, as in one terminal. */
const exports: string[] = [];

function bash(command: string): Promise<Run> {
  const script = [
    // `npx arbiter` is this checkout's command (npx would resolve the same bin/arbiter.js from the repository root).
    `npx() { if [ "$1" = arbiter ]; then shift; node ${JSON.stringify(path.join(repoRoot, 'bin', 'arbiter.js'))} "$@"; else command npx "$@"; fi; }`,
    ...exports,
    command,
  ].join('\n');
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: home, env: { ...process.env, ARBITER_SERVER: server.url, ARBITER_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Why a run does not show what is expected, or null when it does. */
function mismatch(run: Run, expected: Expectation): string | null {
  if (run.status !== (expected.exit ?? 0)) return `exit ${run.status}, expected ${expected.exit ?? 0}`;
  const text = expected.exit ? run.stderr : run.stdout;
  const missing = (expected.shows ?? []).filter((pattern) => !pattern.test(text));
  return missing.length > 0 ? `does not show ${missing.join(', ')}` : null;
}

async function follow(commands: readonly string[], expectations: readonly Expectation[]): Promise<void> {
  expect(commands.length, `the README block has ${commands.length} commands, this test expects ${expectations.length}`).toBe(expectations.length);
  commands.forEach((c, i) => expect(c.startsWith(expectations[i]!.command), `README command ${i + 1}: \`${c}\` should start with \`${expectations[i]!.command}\``).toBe(true));
  let within = 0;
  for (const [i, command] of commands.entries()) {
    const expected = expectations[i]!;
    const sleepFor = /^sleep (\d+)\b/.exec(command);
    if (sleepFor) {
      within = Number(sleepFor[1]);
      continue;
    }
    // After `sleep N`: the README promises the next command shows it within N seconds (plus
    // slack for a loaded machine); it is retried until then instead of sleeping N seconds.
    const deadline = within > 0 ? Date.now() + (within + 60) * 1000 : 0;
    within = 0;
    let run = await bash(command);
    while (mismatch(run, expected) !== null && Date.now() < deadline) {
      await sleep(2000);
      run = await bash(command);
    }
    const why = mismatch(run, expected);
    expect(why, `README: \`${command}\` ${why}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBeNull();
    if (command.startsWith('export ')) exports.push(command);
  }
}

beforeAll(async () => {
  assertDistFresh();
  home = tempDir('readme');
  symlinkSync(path.join(repoRoot, 'examples'), path.join(home, 'examples'));
  // `npm start` is `arbiter serve` with the defaults (package.json), here on a free port.
  const start = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  // exec: npm's SIGTERM/SIGINT reach the server itself, not a shell in between (test/server-lock.test.ts).
  expect(start).toBe('exec node bin/arbiter.js serve');
  server = await startServer(path.join(home, 'arbiter-data'), { demoSetup: true, timeoutMs: 60_000 });
}, 90_000);

afterAll(stopAllServers);

describe("README.md, followed literally", () => {
  const blocks = walkthrough(readFileSync(path.join(repoRoot, 'README.md'), 'utf8'));

  it('starts with `npm install && npm start`; the first start prints the admin token and writes the demo tokens (0600)', () => {
    expect(blocks).toHaveLength(2);
    expect(readFileSync(path.join(repoRoot, 'README.md'), 'utf8')).toMatch(/## Quick start\n\n```sh\nnpm install && npm start /);
    expect(server.startupOutput).toContain(server.adminToken);
    expect(server.startupOutput).toMatch(/Demo lab: tokens for the governance walkthrough are in .*arbiter-data\/tokens\//);
    expect(server.startupOutput).toMatch(/Demo lab: submitted 9 jobs/);
    const dir = path.join(home, 'arbiter-data', 'tokens');
    const files = readdirSync(dir).sort();
    expect(files).toEqual(expect.arrayContaining(['council.token', 'lead-pretraining.token', 'lead-research.token', 'member-evals.token']));
    for (const file of files) expect(statSync(path.join(dir, file)).mode & 0o777, file).toBe(0o600);
  });

  it('the quick start: the demo lab has a waiting job with a reason and an expected start, and refuses an impossible one', async () => {
    await follow(blocks[0]!, QUICK_START);
  }, 240_000);

  it('the governance walkthrough: a proposal, the responses, a vote and the ramp, within the minute the README says', async () => {
    await follow(blocks[1]!, GOVERNANCE);
  }, 300_000);
});
