import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../core/model.js';
import { TraceImportError } from './canonical-csv.js';
import { importTrace, type ImportResult, type TraceOptions } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Excerpts of the openb pod lists (test/fixtures/traces/README.md): the default list's first 2,500
// pods (lines 2-2501, so line numbers are the full file's), gpuspec33's first 1,000, gpushare100's
// lines 1002-2001, cpu300's lines 2532-3531 and the first 20 rows of multigpu20.
const podList = (name: string): string =>
  path.resolve(repoRoot, 'test/fixtures/traces/alibaba_gpu_v2023', `openb_pod_list_${name}.excerpt.csv`);
const DEFAULT = podList('default');
const HEADER = 'id,submit,team,gpus,duration,class,flavor,time_limit,checkpoint_interval';
const SOURCE_HEADER =
  'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time';

const alibaba = (text: string, file = 'p.csv', options?: TraceOptions): ImportResult =>
  importTrace('alibaba-openb', text, file, options);
const rowsOf = (csv: string): string[] => csv.split('\n').slice(1, -1);
const tiny = (...rows: string[]): string => [SOURCE_HEADER, ...rows].join('\n') + '\n';
const byIdOf = (csv: string): Map<string, string> =>
  new Map(rowsOf(csv).map((row) => [row.split(',')[0] ?? '', row]));

/** The rendered issues of the TraceImportError that `run` throws. */
function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof TraceImportError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('expected a TraceImportError');
}

describe('alibaba-openb importer on the first 2,500 pods of the default pod list', () => {
  let result: ImportResult;
  let rows: string[];
  let byId: Map<string, string>;

  beforeAll(() => {
    result = alibaba(readFileSync(DEFAULT, 'utf8'), DEFAULT);
    rows = rowsOf(result.csv);
    byId = byIdOf(result.csv);
  });

  it('imports the 1,927 GPU pods that ran, and counts the 573 rows it leaves out', () => {
    // 2,500 pods = 390 with num_gpu 0 + 183 GPU pods never scheduled + 1,927 imported
    // (`awk -F, 'NR>1 && $4>0 && $11!=""'`).
    expect(result.csv.split('\n')[0]).toBe(HEADER);
    expect(result.jobs).toBe(1927);
    expect(rows).toHaveLength(1927);
    expect(result.warnings.map(formatIssue)).toEqual([
      `${DEFAULT}: 390 pods skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)`,
      `${DEFAULT}: 183 GPU pods skipped: never scheduled (empty scheduled_time: deleted while pending, so they never ran)`,
    ]);
    // 744 of the imported pods have gpu_milli < 1000.
    expect(result.notes).toEqual([
      '744 GPU-sharing pods (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs',
    ]);
    // The first pod is created at 0, the last (openb-pod-2499) at 10934159.
    expect(result.span).toBe(10_934_159);
  });

  it('makes one team per QoS and maps QoS to classes: LS serving, BE opportunistic, the others research', () => {
    expect(result.teams).toEqual(['be', 'burstable', 'guaranteed', 'ls']);
    const count = (team: string, className: string): number =>
      rows.filter((row) => row.split(',')[2] === team && row.split(',')[5] === className).length;
    expect([
      count('ls', 'serving'),
      count('be', 'opportunistic'),
      count('burstable', 'research'),
      count('guaranteed', 'research'),
    ]).toEqual([795, 1099, 29, 4]);
  });

  it('counts GPUs per pod: 1,901 pods of 1 GPU, 2 of 2, 3 of 4, 21 of 8', () => {
    const gpus = rows.map((row) => row.split(',')[3]);
    expect(['1', '2', '4', '8'].map((n) => gpus.filter((g) => g === n).length)).toEqual([1901, 2, 3, 21]);
  });

  it('takes the duration from scheduled_time to deletion_time', () => {
    // Line 3: openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061 (a 0.46-GPU pod
    // still running at the end of the trace): 12902960 - 427061 = 12475899.
    expect(byId.get('openb-pod-0001')).toBe('openb-pod-0001,427061,ls,1,12475899,serving,,,');
    // Line 19: openb-pod-0017,88000,327680,8,1000,,Burstable,Succeeded,9437497,10769854,9437497.
    expect(byId.get('openb-pod-0017')).toBe('openb-pod-0017,9437497,burstable,8,1332357,research,,,');
    // Line 35: openb-pod-0033,3152,5600,1,1000,,BE,Failed,9965463,9965645,9965463 (failed pods held GPUs).
    expect(byId.get('openb-pod-0033')).toBe('openb-pod-0033,9965463,be,1,182,opportunistic,,,');
    // Line 735: openb-pod-0733,...,Guaranteed,Running,10292589,12634855,10292622: 33 s of waiting
    // are not work: 12634855 - 10292622 = 2342233.
    expect(byId.get('openb-pod-0733')).toBe('openb-pod-0733,10292589,guaranteed,1,2342233,research,,,');
  });

  it('leaves out CPU-only pods and pods never scheduled', () => {
    // Line 7: openb-pod-0005,20000,65536,0,0,,LS,Running,2759674,12902960,2759676.
    expect(byId.has('openb-pod-0005')).toBe(false);
    // Line 63: openb-pod-0061,11908,47104,1,1000,,BE,Pending,10001278,10001403, (deleted after 125 s).
    expect(byId.has('openb-pod-0061')).toBe(false);
  });

  it('writes pods by creation time', () => {
    const submits = rows.map((row) => Number(row.split(',')[1]));
    expect(submits.filter((submit, i) => i > 0 && submit < (submits[i - 1] ?? 0))).toEqual([]);
    expect([rows[0], rows.at(-1)]).toEqual([
      'openb-pod-0000,0,ls,1,12537496,serving,,,',
      // Line 2501: openb-pod-2499,15700,58368,1,1000,,LS,Running,10934159,10936329,10934161.
      'openb-pod-2499,10934159,ls,1,2168,serving,,,',
    ]);
  });

  it('puts every pod into team alibaba with --team-by none, and renames QoS teams with --team-map', () => {
    const text = readFileSync(DEFAULT, 'utf8');
    expect(alibaba(text, DEFAULT, { teamBy: 'none' }).teams).toEqual(['alibaba']);
    // Keys may be QoS values (LS) or the team names they give (be); * takes the rest.
    const mapped = alibaba(text, DEFAULT, {
      teamMap: new Map([
        ['LS', 'product'],
        ['be', 'research'],
        ['*', 'infra'],
      ]),
    });
    expect(mapped.teams).toEqual(['infra', 'product', 'research']);
    expect(byIdOf(mapped.csv).get('openb-pod-0017')).toBe(
      'openb-pod-0017,9437497,infra,8,1332357,research,,,',
    );
  });

  it('overrides classes with --class-map; an empty class leaves the policy default', () => {
    const result = alibaba(readFileSync(DEFAULT, 'utf8'), DEFAULT, {
      classMap: new Map([
        ['BE', 'training'],
        ['Burstable', ''],
      ]),
    });
    const byId = byIdOf(result.csv);
    expect(byId.get('openb-pod-0033')).toBe('openb-pod-0033,9965463,be,1,182,training,,,');
    expect(byId.get('openb-pod-0017')).toBe('openb-pod-0017,9437497,burstable,8,1332357,,,,');
    expect(byId.get('openb-pod-0001')).toBe('openb-pod-0001,427061,ls,1,12475899,serving,,,');
  });

  it('keeps a window of creation times: the first 10 days hold 2 pods', () => {
    // Creation times below 864000: openb-pod-0000 (0) and openb-pod-0001 (427061).
    const result = alibaba(readFileSync(DEFAULT, 'utf8'), DEFAULT, { to: 864_000 });
    expect(result.jobs).toBe(2);
    expect(result.notes.at(-1)).toBe('window [0, 864000) of submit times kept 2 of 1927 jobs');
  });
});

describe('alibaba-openb importer on the other pod lists', () => {
  it('turns a single allowed GPU type into a flavor (gpuspec33, first 1,000 pods)', () => {
    const result = alibaba(readFileSync(podList('gpuspec33'), 'utf8'), 'gpuspec33.csv');
    const rows = rowsOf(result.csv);
    expect(result.jobs).toBe(805);
    const flavors = new Map<string, number>();
    for (const row of rows) {
      const flavor = row.split(',')[6] ?? '';
      flavors.set(flavor, (flavors.get(flavor) ?? 0) + 1);
    }
    expect([...flavors].sort(([a], [b]) => a.localeCompare(b))).toEqual([
      ['', 591],
      ['g2', 33],
      ['g3', 10],
      ['p100', 24],
      ['t4', 145],
      ['v100m32', 2],
    ]);
    expect(result.notes).toEqual([
      '284 GPU-sharing pods (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs',
      '47 pods allow several GPU types (gpu_spec "A|B"): written with an empty flavor (any type)',
    ]);
    const byId = byIdOf(result.csv);
    // Line 14: openb-pod-0012,8000,32768,1,1000,T4,LS,Running,6588193,10959245,6595531.
    expect(byId.get('openb-pod-0012')).toBe('openb-pod-0012,6588193,ls,1,4363714,serving,t4,,');
    // Line 24: openb-pod-0022,4000,15258,1,220,T4,BE,Running,9679175,9973826,9679175.
    expect(byId.get('openb-pod-0022')).toBe('openb-pod-0022,9679175,be,1,294651,opportunistic,t4,,');
    // Line 11: openb-pod-0009,...,V100M16|V100M32,LS,Running,4975773,12902960,4975773: any flavor.
    expect(byId.get('openb-pod-0009')).toBe('openb-pod-0009,4975773,ls,1,7927187,serving,,,');
  });

  it('imports gpushare100 (every GPU pod shares a GPU) and cpu300 (its CPU-only pods come first)', () => {
    // gpushare100 lines 1002-2001: the last 88 of its 1,088 CPU-only pods, then 912 GPU pods, 161
    // of them never scheduled; every GPU pod has gpu_milli < 1000.
    const share = alibaba(readFileSync(podList('gpushare100'), 'utf8'), 'share.csv');
    expect(share.jobs).toBe(751);
    expect(share.teams).toEqual(['be', 'ls']);
    expect(share.warnings.map((w) => w.message)).toEqual([
      '88 pods skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)',
      '161 GPU pods skipped: never scheduled (empty scheduled_time: deleted while pending, so they never ran)',
    ]);
    expect(share.notes[0]).toBe(
      '751 GPU-sharing pods (gpu_milli < 1000, a fraction of one GPU) written as whole GPUs',
    );
    // cpu300 lines 2532-3531: the last 500 of its 3,030 CPU-only pods, then 500 GPU pods, 36 of
    // them never scheduled.
    const cpu = alibaba(readFileSync(podList('cpu300'), 'utf8'), 'cpu.csv');
    expect(cpu.jobs).toBe(464);
    expect(cpu.warnings.map((w) => w.message)).toEqual([
      '500 pods skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)',
      '36 GPU pods skipped: never scheduled (empty scheduled_time: deleted while pending, so they never ran)',
    ]);
  });

  it('refuses the multigpu resamplings, which have no time columns', () => {
    expect(problems(() => alibaba(readFileSync(podList('multigpu20'), 'utf8'), 'multigpu20.csv'))).toEqual([
      `multigpu20.csv:1: header: missing columns gpu_spec, qos, creation_time, deletion_time, scheduled_time; expected ${SOURCE_HEADER}`,
    ]);
  });
});

describe('alibaba-openb importer on small inputs', () => {
  it('counts time from the earliest creation, even of a pod left out', () => {
    const { csv, warnings } = alibaba(
      tiny(
        'cpu,1000,1,0,0,,BE,Running,100,900,100',
        'gpu,1000,1,2,1000,A10|a10,LS,Running,160,400,200',
        'shared,1000,1,1,300,,Guaranteed,Failed,130,140,130',
      ),
    );
    expect(csv).toBe(`${HEADER}\nshared,30,guaranteed,1,10,research,,,\ngpu,60,ls,2,200,serving,a10,,\n`);
    expect(warnings.map((w) => w.message)).toEqual([
      '1 pod skipped: num_gpu is 0 (CPU-only pods are not GPU jobs)',
    ]);
  });
});

describe('alibaba-openb importer errors', () => {
  it('reports every bad cell with file, line and column', () => {
    const text = tiny(
      'a,1,1,-1,1000,,LS,Running,0,10,0',
      'b,1,1,1,1001,T4,Gold,Running,0,10,0',
      'c,1,1,1,1000,|?|,BE,Running,10,20,5',
      'd,1,1,1,1000,,BE,Running,10,20,30',
      'e,1,1,1,1000,,BE,Pending,10,5,',
      'a,1,1,1,1000,,BE,Running,0,1,soon',
    );
    expect(problems(() => alibaba(text, 'pods.csv'))).toEqual([
      'pods.csv:2: column num_gpu: expected an integer >= 0, got "-1"',
      'pods.csv:3: column gpu_milli: expected an integer from 0 to 1000, got "1001"',
      'pods.csv:3: column qos: expected LS, BE, Burstable or Guaranteed (or a QoS given a class by --class-map), got "Gold"',
      'pods.csv:4: column gpu_spec: expected GPU types made of letters and digits, separated by |, got "|?|"',
      'pods.csv:4: column scheduled_time: expected a time at or after creation_time (10), got "5"',
      'pods.csv:5: column deletion_time: expected a time at or after scheduled_time (30), got "20"',
      'pods.csv:6: column deletion_time: expected a time at or after creation_time (10), got "5"',
      'pods.csv:7: column name: "a" is already used at line 2; ids must be unique',
      'pods.csv:7: column scheduled_time: expected a number of seconds >= 0, or empty if never scheduled, got "soon"',
    ]);
  });

  it('accepts a new QoS given a class by --class-map, and refuses a map key no pod has', () => {
    const text = tiny('a,1,1,1,1000,,Gold,Running,0,10,0');
    expect(rowsOf(alibaba(text, 'p.csv', { classMap: new Map([['Gold', 'serving']]) }).csv)).toEqual([
      'a,0,gold,1,10,serving,,,',
    ]);
    expect(
      problems(() =>
        alibaba(tiny('a,1,1,1,1000,,LS,Running,0,10,0'), 'p.csv', { classMap: new Map([['Ls', 'serving']]) }),
      ),
    ).toEqual(['p.csv: --class-map: no pod has qos "Ls"; the qos values of this trace: LS']);
  });
});
