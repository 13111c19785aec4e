import { describe, expect, test } from 'vitest';
import { formatIssue, type Fleet, type Issue, type Policy, type Result, type TeamSpec } from '../model.js';
import { allTeams, leafTeams, leavesUnder, parsePolicy } from './policy.js';
import { DEFAULT_GOVERNANCE } from './governance.js';

const FLEET: Fleet = {
  pools: [
    { name: 'h100-a', flavor: 'h100', nodes: 64, gpusPerNode: 8 },
    { name: 'a100-b', flavor: 'a100', nodes: 32, gpusPerNode: 8 },
  ],
};

/** A team as the parser produces it, with the defaults filled. */
const team = (name: string, fields: Partial<TeamSpec> = {}): TeamSpec => ({
  name,
  guarantee: {},
  limit: {},
  lendable: { ...fields.guarantee, ...fields.lendable },
  weight: 1,
  children: [],
  ...fields,
});

const DEFAULTS: Omit<Policy, 'teams'> = {
  priorityClasses: [
    { name: 'serving', priority: 1000, preemptible: false },
    { name: 'training', priority: 500, preemptible: true },
    { name: 'research', priority: 100, preemptible: true },
    { name: 'opportunistic', priority: 0, preemptible: true },
  ],
  defaultClass: 'research',
  scheduling: { withinTeam: 'fifo' },
  fairShare: { halfLife: 604_800 },
  preemption: {
    minRuntime: 600,
    restartOverhead: 0,
    checkpointInterval: 0,
    withinTeam: true,
    borrowing: 'lowerPriority',
    fairShare: false,
  },
};

const issues = (result: Result<Policy>): readonly Issue[] => (result.ok ? [] : result.issues);
const parse = (text: string): Result<Policy> => parsePolicy(text, 'policy.yaml', FLEET);
const valid = (text: string): Policy => {
  const result = parse(text);
  if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
  return result.value;
};

const EXAMPLE_TEAMS = `teams:
  - name: research
    guarantee: { h100: 256 }
    limit: { h100: 512 }
    lendable: { h100: 256 }
    weight: 1
    children:
      - name: pretraining
        guarantee: { h100: 192 }
      - name: alignment
        guarantee: { h100: 64 }
  - name: applied
    guarantee: { h100: 256 }
    children:
      - name: serving
        guarantee: { h100: 256 }
`;

describe('parsePolicy', () => {
  test('fills every key but teams with the defaults of formats.md', () => {
    expect(parse('teams: [{ name: solo }]')).toEqual({
      ok: true,
      value: { ...DEFAULTS, teams: [team('solo')] },
      warnings: [],
    });
  });

  test('reads the team tree of formats.md, with lendable filled for every guaranteed flavor', () => {
    expect(parse(EXAMPLE_TEAMS)).toEqual({
      ok: true,
      value: {
        ...DEFAULTS,
        teams: [
          team('research', {
            guarantee: { h100: 256 },
            limit: { h100: 512 },
            children: [
              team('pretraining', { guarantee: { h100: 192 } }),
              team('alignment', { guarantee: { h100: 64 } }),
            ],
          }),
          team('applied', {
            guarantee: { h100: 256 },
            children: [team('serving', { guarantee: { h100: 256 } })],
          }),
        ],
      },
      warnings: [],
    });
  });

  test('reads every setting when given, durations with units', () => {
    const text = `priorityClasses:
  - { name: urgent, priority: 10, preemptible: false }
  - { name: batch, priority: 1 }
defaultClass: batch
scheduling: { withinTeam: las }
fairShare: { halfLife: 1.5h }
preemption:
  minRuntime: 90s
  restartOverhead: 30
  checkpointInterval: "600"
  withinTeam: false
  borrowing: never
  fairShare: true
governance: { quorum: 0.66, ramp: { steps: 4, over: 7d } }
teams:
  - name: a
    guarantee: { h100: 16, a100: 8 }
    limit: { a100: 64 }
    lendable: { h100: 4 }
    weight: 2.5
`;
    expect(parse(text)).toEqual({
      ok: true,
      value: {
        priorityClasses: [
          { name: 'urgent', priority: 10, preemptible: false },
          { name: 'batch', priority: 1, preemptible: true },
        ],
        defaultClass: 'batch',
        scheduling: { withinTeam: 'las' },
        fairShare: { halfLife: 5400 },
        preemption: {
          minRuntime: 90,
          restartOverhead: 30,
          checkpointInterval: 600,
          withinTeam: false,
          borrowing: 'never',
          fairShare: true,
        },
        governance: { ...DEFAULT_GOVERNANCE, quorum: 0.66, ramp: { steps: 4, over: 7 * 86400 } },
        teams: [
          {
            name: 'a',
            guarantee: { h100: 16, a100: 8 },
            limit: { a100: 64 },
            lendable: { h100: 4, a100: 8 },
            weight: 2.5,
            children: [],
          },
        ],
      },
      warnings: [],
    });
  });

  test('accepts JSON, which is YAML 1.2', () => {
    const json = JSON.stringify({ defaultClass: 'training', teams: [{ name: 'a', guarantee: { a100: 8 } }] });
    expect(parse(json)).toEqual({
      ok: true,
      value: { ...DEFAULTS, defaultClass: 'training', teams: [team('a', { guarantee: { a100: 8 } })] },
      warnings: [],
    });
  });

  test("names the child whose guarantee takes the children's sum over the parent's (cli.md example)", () => {
    const text = EXAMPLE_TEAMS.replace('guarantee: { h100: 64 }', 'guarantee: { h100: 108 }');
    expect(parse(text)).toEqual({
      ok: false,
      issues: [
        {
          file: 'policy.yaml',
          line: 11,
          path: 'teams[0].children[1].guarantee.h100',
          message:
            'children of team "research" are guaranteed 300 h100, more than its 256; lower the children\'s guarantees or raise the guarantee of "research"',
        },
      ],
    });
  });

  test('children may not guarantee a flavor their parent does not', () => {
    const text = 'teams:\n  - name: p\n    children:\n      - { name: c, guarantee: { a100: 8 } }\n';
    expect(issues(parse(text))).toEqual([
      {
        file: 'policy.yaml',
        line: 4,
        path: 'teams[0].children[0].guarantee.a100',
        message:
          'children of team "p" are guaranteed 8 a100, more than its 0; lower the children\'s guarantees or raise the guarantee of "p"',
      },
    ]);
  });

  test('top-level guarantees sum to at most the fleet capacity of each flavor', () => {
    const text =
      'teams:\n  - { name: a, guarantee: { h100: 400 } }\n  - { name: b, guarantee: { h100: 200 } }\n';
    expect(issues(parse(text))).toEqual([
      {
        file: 'policy.yaml',
        line: 3,
        path: 'teams[1].guarantee.h100',
        message:
          'top-level teams are guaranteed 600 h100 in all, more than the fleet\'s 512 (the sum goes over at team "b"); lower their guarantees or add h100 pools to the fleet',
      },
    ]);
  });

  test('a child limit above its parent limit is allowed (the parent limit still binds)', () => {
    const text =
      'teams:\n  - name: p\n    limit: { h100: 8 }\n    children: [{ name: c, limit: { h100: 64 } }]\n';
    expect(parse(text).ok).toBe(true);
  });

  test('checks every rule of a team and reports all problems at once, naming the team', () => {
    const text = `teams:
  - name: a
    guarantee: { h100: 16, v100: 8, a100: -1 }
    limit: { h100: 8 }
    lendable: { h100: 32 }
    weight: 0
    colour: blue
  - name: b
    guarantee: { h100: 16 }
    limit: { h100: 8 }
    lendable: { h100: 32, a100: 1.5 }
    children: {}
  - name: ""
  - guarantee: { h100: 1 }
`;
    const at = (line: number, path: string, message: string): Issue => ({
      file: 'policy.yaml',
      line,
      path,
      message,
    });
    expect(issues(parse(text))).toEqual([
      at(
        3,
        'teams[0].guarantee.v100',
        'the fleet has no flavor "v100" (its flavors: h100, a100); use one of them or add a v100 pool to the cluster (team "a")',
      ),
      at(3, 'teams[0].guarantee.a100', 'expected a non-negative integer number of GPUs, got -1 (team "a")'),
      at(
        6,
        'teams[0].weight',
        'expected a number > 0 (its share of spare capacity among its siblings), got 0 (team "a")',
      ),
      at(
        7,
        'teams[0].colour',
        'unknown key "colour"; allowed keys: name, guarantee, limit, lendable, weight, children (team "a")',
      ),
      at(
        10,
        'teams[1].limit.h100',
        'team "b" is limited to 8 h100, less than its guarantee of 16; raise the limit to at least 16 or lower the guarantee',
      ),
      at(
        11,
        'teams[1].lendable.h100',
        'team "b" may lend 32 h100, more than its guarantee of 16; lendable is at most the guarantee',
      ),
      at(11, 'teams[1].lendable.a100', 'expected a non-negative integer number of GPUs, got 1.5 (team "b")'),
      at(
        12,
        'teams[1].children',
        'expected a list (lines starting with "- " or [ ... ]), got a mapping (team "b")',
      ),
      at(13, 'teams[2].name', 'expected a non-empty string, got ""'),
      at(14, 'teams[3].name', 'missing; give the team a unique name'),
    ]);
  });

  test('team names are unique across the whole tree', () => {
    const text =
      'teams:\n  - name: a\n    children: [{ name: x }, { name: y }]\n  - name: b\n    children:\n      - name: x\n';
    expect(issues(parse(text))).toEqual([
      {
        file: 'policy.yaml',
        line: 6,
        path: 'teams[1].children[0].name',
        message:
          'team name "x" is already used at teams[0].children[0]; team names must be unique across the whole tree',
      },
    ]);
  });

  test('checks priority classes and the default class', () => {
    const text = `priorityClasses:
  - { name: a, priority: 1 }
  - { name: a, priority: high, preemptible: maybe }
defaultClass: z
teams: [{ name: t }]
`;
    expect(issues(parse(text))).toEqual([
      {
        file: 'policy.yaml',
        line: 3,
        path: 'priorityClasses[1].name',
        message: 'class name "a" is already used by priorityClasses[0]; class names must be unique',
      },
      {
        file: 'policy.yaml',
        line: 3,
        path: 'priorityClasses[1].priority',
        message: 'expected a number, got "high"',
      },
      {
        file: 'policy.yaml',
        line: 3,
        path: 'priorityClasses[1].preemptible',
        message: 'expected true or false, got "maybe"',
      },
      {
        file: 'policy.yaml',
        line: 4,
        path: 'defaultClass',
        message: '"z" is not a priority class; name one of: a',
      },
    ]);
  });

  test('says when the default defaultClass is missing from custom classes', () => {
    expect(issues(parse('priorityClasses: [{ name: a, priority: 1 }]\nteams: [{ name: t }]\n'))).toEqual([
      {
        file: 'policy.yaml',
        line: 1,
        path: 'defaultClass',
        message: 'not set, and its default "research" is not a priority class; set defaultClass to one of: a',
      },
    ]);
  });

  test('a class may give a default time limit (a duration above 0); a misspelt key is still refused', () => {
    const ok = parse('priorityClasses:\n  - { name: a, priority: 1, defaultTimeLimit: 8h }\n  - { name: b, priority: 0 }\ndefaultClass: a\nteams: [{ name: t }]\n');
    expect(ok.ok && ok.value.priorityClasses).toEqual([
      { name: 'a', priority: 1, preemptible: true, defaultTimeLimit: 28_800 },
      { name: 'b', priority: 0, preemptible: true },
    ]);
    expect(
      issues(parse('priorityClasses:\n  - { name: a, priority: 1, defaultTimeLimit: 0 }\n  - { name: b, priority: 0, defaultTimelimit: 1h }\ndefaultClass: a\nteams: [{ name: t }]\n')),
    ).toEqual([
      {
        file: 'policy.yaml',
        line: 2,
        path: 'priorityClasses[0].defaultTimeLimit',
        message: 'expected a duration above 0 (e.g. 8h), got 0; leave the key out for no default limit',
      },
      {
        file: 'policy.yaml',
        line: 3,
        path: 'priorityClasses[1].defaultTimelimit',
        message: 'unknown key "defaultTimelimit"; did you mean "defaultTimeLimit"? allowed keys: name, priority, preemptible, defaultTimeLimit',
      },
    ]);
  });

  test('an empty list of priority classes is an error of its own', () => {
    expect(issues(parse('priorityClasses: []\nteams: [{ name: t }]\n'))).toEqual([
      {
        file: 'policy.yaml',
        line: 1,
        path: 'priorityClasses',
        message: 'no classes; list at least one, or leave the key out to get the defaults',
      },
    ]);
  });

  test('an alias that names no anchor is reported where it is used', () => {
    expect(issues(parse('teams:\n  - name: t\n    weight: *w\n'))).toEqual([
      {
        file: 'policy.yaml',
        line: 3,
        path: 'teams[0].weight',
        message: 'alias *w names no anchor; define &w first (team "t")',
      },
    ]);
  });

  test('checks the settings: enumerations, booleans, durations and a positive half-life', () => {
    const text = `scheduling: { withinTeam: lifo }
fairShare: { halfLife: 0 }
preemption:
  minRuntime: -1
  restartOverhead: soon
  withinTeam: "yes"
  borrowing: always
  grace: 1
teams: [{ name: t }]
`;
    expect(issues(parse(text))).toEqual([
      {
        file: 'policy.yaml',
        line: 1,
        path: 'scheduling.withinTeam',
        message: 'expected one of fifo, las, got "lifo"',
      },
      {
        file: 'policy.yaml',
        line: 2,
        path: 'fairShare.halfLife',
        message: 'must be more than 0 (past usage would be forgotten at once), e.g. 7d',
      },
      {
        file: 'policy.yaml',
        line: 4,
        path: 'preemption.minRuntime',
        message: 'a duration cannot be negative, got -1',
      },
      {
        file: 'policy.yaml',
        line: 5,
        path: 'preemption.restartOverhead',
        message: 'expected a duration in seconds (600, 0.5) or with a unit (90s, 10m, 1.5h, 7d), got "soon"',
      },
      {
        file: 'policy.yaml',
        line: 6,
        path: 'preemption.withinTeam',
        message: 'expected true or false, got "yes"',
      },
      {
        file: 'policy.yaml',
        line: 7,
        path: 'preemption.borrowing',
        message: 'expected one of lowerPriority, never, got "always"',
      },
      {
        file: 'policy.yaml',
        line: 8,
        path: 'preemption.grace',
        message:
          'unknown key "grace"; allowed keys: minRuntime, restartOverhead, checkpointInterval, withinTeam, borrowing, fairShare',
      },
    ]);
  });

  test('teams are required and not empty; unknown top-level keys are errors', () => {
    expect(issues(parse('defaultClass: research\n'))).toEqual([
      {
        file: 'policy.yaml',
        line: 1,
        path: 'teams',
        message: 'missing; give the organisation tree: a list of teams with their guarantees',
      },
    ]);
    expect(issues(parse('teams: []\nteam: []\n'))).toEqual([
      { file: 'policy.yaml', line: 1, path: 'teams', message: 'the policy has no teams; list at least one' },
      {
        file: 'policy.yaml',
        line: 2,
        path: 'team',
        message:
          'unknown key "team"; did you mean "teams"? allowed keys: priorityClasses, defaultClass, scheduling, fairShare, preemption, teams, governance',
      },
    ]);
    expect(issues(parse(''))).toEqual([
      {
        file: 'policy.yaml',
        path: '',
        message: 'the file is empty; expected a mapping with at least a "teams" list',
      },
    ]);
  });

  test('governance must be a mapping when given', () => {
    expect(issues(parse('governance: 3\nteams: [{ name: t }]\n'))).toEqual([
      {
        file: 'policy.yaml',
        line: 1,
        path: 'governance',
        message: 'expected a mapping (key: value lines or { ... }), got 3',
      },
    ]);
  });
});

describe('team helpers', () => {
  const teams = valid(EXAMPLE_TEAMS);

  test('allTeams lists parents before children, in file order', () => {
    expect([...allTeams(teams).keys()]).toEqual([
      'research',
      'pretraining',
      'alignment',
      'applied',
      'serving',
    ]);
  });

  test('leafTeams keeps the teams jobs are submitted to', () => {
    expect([...leafTeams(teams).keys()]).toEqual(['pretraining', 'alignment', 'serving']);
  });

  test('leavesUnder lists the leaves under a team, or the team itself', () => {
    const research = allTeams(teams).get('research');
    const serving = allTeams(teams).get('serving');
    expect([research && leavesUnder(research), serving && leavesUnder(serving)]).toEqual([
      ['pretraining', 'alignment'],
      ['serving'],
    ]);
  });
});
