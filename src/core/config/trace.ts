// Parsing and validation of a workload trace in the canonical CSV (docs/formats.md).
// Jobs keep file order: the engine sorts them stably by submit time.
import type { Flavor, Fleet, Issue, JobSpec, Policy, Result } from '../model.js';
import { flavorCapacity } from './cluster.js';
import { readCsv } from './csv.js';
import { parseDecimal } from './duration.js';
import { allTeams, leafTeams, leavesUnder } from './policy.js';
import { didYouMean } from '../suggest.js';

const REQUIRED = ['id', 'submit', 'team', 'gpus', 'duration'] as const;
const OPTIONAL = ['class', 'flavor', 'time_limit', 'checkpoint_interval'] as const;
type Column = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];
const KNOWN: ReadonlySet<string> = new Set<string>([...REQUIRED, ...OPTIONAL]);
const PER_FLAVOR = 'duration@';

/** A broken file lists this many problems, then one line that counts the rest. */
export const MAX_LISTED_PROBLEMS = 50;

/** `a, b, c` for at most `max` names, then how many more. */
function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, ... (${names.length - max} more)` : shown;
}

/** Each name mapped to itself: jobs then share one string per team, class and flavor. */
const interned = (names: Iterable<string>): Map<string, string> =>
  new Map([...names].map((name) => [name, name]));

/**
 * Parses a canonical CSV trace; on failure the issues list the file's problems in line order,
 * at most MAX_LISTED_PROBLEMS of them and then a line that counts the rest.
 */
export function parseTrace(text: string, file: string, policy: Policy, fleet: Fleet): Result<JobSpec[]> {
  const found: Issue[] = [];
  const warnings: Issue[] = [];
  const problem = (line: number, path: string, message: string): void => {
    found.push({ file, line, path, message });
  };

  const teams = allTeams(policy);
  const leaves = interned(leafTeams(policy).keys());
  const leafList = listNames([...leaves.keys()]);
  const classes = interned(policy.priorityClasses.map((c) => c.name));
  const classList = listNames([...classes.keys()]);
  const flavors = interned(flavorCapacity(fleet).keys());
  const flavorList = listNames([...flavors.keys()]);
  // "did you mean" (or else the list), worked out once per misspelled name and list: a large
  // trace may repeat the same misspelling on many rows.
  const suggestions = new Map<string, string>();
  const suggestion = (name: string, known: Iterable<string>, otherwise: string): string => {
    const key = `${otherwise}\0${name}`;
    let text = suggestions.get(key);
    if (text === undefined) suggestions.set(key, (text = didYouMean(name, known, otherwise)));
    return text;
  };

  // Where each column is in a row, -1 when the header lacks it.
  const at: Record<Column, number> = {
    id: -1,
    submit: -1,
    team: -1,
    gpus: -1,
    duration: -1,
    class: -1,
    flavor: -1,
    time_limit: -1,
    checkpoint_interval: -1,
  };
  const perFlavor: { flavor: Flavor; index: number }[] = [];
  let width = 0;
  const jobs: JobSpec[] = [];
  // Every row's id and line, checked for repeats after the rows are read: a Map filled while
  // reading costs more (it keeps pointers from old to young objects), and repeats are rare.
  const ids: string[] = [];
  const idLines: number[] = [];

  const readHeader = (names: string[]): void => {
    width = names.length;
    const seen = new Map<string, number>();
    const unknown: string[] = [];
    names.forEach((name, index) => {
      const first = seen.get(name);
      if (first !== undefined) {
        problem(
          1,
          `column ${name}`,
          `appears twice in the header (fields ${first + 1} and ${index + 1}); keep one`,
        );
        return;
      }
      seen.set(name, index);
      if (KNOWN.has(name)) at[name as Column] = index;
      else if (name.startsWith(PER_FLAVOR)) {
        const flavor = name.slice(PER_FLAVOR.length);
        if (flavors.has(flavor)) perFlavor.push({ flavor, index });
        else
          problem(
            1,
            `column ${name}`,
            `the fleet has no flavor "${flavor}" (its flavors: ${flavorList}); rename or remove the column`,
          );
      } else unknown.push(JSON.stringify(name));
    });
    const missing = REQUIRED.filter((name) => at[name] === -1);
    if (missing.length > 0) {
      const hint = unknown.length > 0 ? `; the header has unknown columns ${unknown.join(', ')}` : '';
      problem(
        1,
        '',
        `missing required columns: ${missing.join(', ')} (the header must name ${REQUIRED.join(', ')})${hint}`,
      );
    } else if (unknown.length > 0) {
      const known = [...REQUIRED, ...OPTIONAL, `${PER_FLAVOR}<flavor>`].join(', ');
      warnings.push({
        file,
        line: 1,
        path: '',
        message: `unknown columns ignored: ${unknown.join(', ')} (known columns: ${known})`,
      });
    }
  };

  /** Seconds in a cell (a decimal >= 0, or > 0 when `positive`), or undefined after reporting it; `orEmpty` says what empty means. */
  const seconds = (
    line: number,
    name: string,
    value: string,
    positive: boolean,
    orEmpty = '',
  ): number | undefined => {
    const number = parseDecimal(value);
    if (number !== null && (positive ? number > 0 : number >= 0)) return number;
    problem(
      line,
      `column ${name}`,
      `expected a number of seconds ${positive ? '> 0' : '>= 0'}${orEmpty}, got ${JSON.stringify(value)}`,
    );
    return undefined;
  };

  // Runs once per row of files with 100,000+ rows: no closures or temporary objects in here.
  const readJob = (fields: string[], line: number): void => {
    if (fields.length !== width) {
      const empty = fields.length === 1 && fields[0] === '';
      problem(
        line,
        '',
        empty ? 'empty line; remove it' : `expected ${width} fields as in the header, got ${fields.length}`,
      );
      return;
    }
    const before = found.length;
    // A required column missing from the header was reported once; its cells are not checked.
    const id = at.id < 0 ? undefined : (fields[at.id] ?? '');
    if (id === '') problem(line, 'column id', 'empty; give every job a unique id');
    else if (id !== undefined) {
      ids.push(id);
      idLines.push(line);
    }
    const submit = at.submit < 0 ? undefined : seconds(line, 'submit', fields[at.submit] ?? '', false);
    const teamText = at.team < 0 ? undefined : (fields[at.team] ?? '');
    const team = teamText === undefined ? undefined : leaves.get(teamText);
    if (teamText !== undefined && team === undefined) {
      const inner = teams.get(teamText);
      problem(
        line,
        'column team',
        inner
          ? `team "${teamText}" has sub-teams; submit to one of its leaf teams: ${listNames(leavesUnder(inner))}`
          : `unknown team ${JSON.stringify(teamText)}${suggestion(teamText, leaves.keys(), `; the policy's leaf teams: ${leafList}`)}`,
      );
    }
    const gpusText = at.gpus < 0 ? undefined : (fields[at.gpus] ?? '');
    const gpus = gpusText === undefined ? null : parseDecimal(gpusText);
    if (gpusText !== undefined && (gpus === null || !Number.isSafeInteger(gpus) || gpus <= 0)) {
      problem(line, 'column gpus', `expected a positive integer, got ${JSON.stringify(gpusText)}`);
    }
    const duration =
      at.duration < 0 ? undefined : seconds(line, 'duration', fields[at.duration] ?? '', false);
    const classText = (at.class < 0 ? '' : fields[at.class]) || policy.defaultClass;
    const className = classes.get(classText);
    if (className === undefined) {
      problem(
        line,
        'column class',
        `unknown priority class "${classText}"${suggestion(classText, classes.keys(), `; the policy's classes: ${classList}`)}`,
      );
    }
    const flavorText = at.flavor < 0 ? '' : (fields[at.flavor] ?? '');
    const flavor = flavorText === '' ? null : flavors.get(flavorText);
    if (flavor === undefined) {
      // No "did you mean" for flavors: one character apart is another GPU (a100, h100).
      problem(line, 'column flavor', `unknown flavor "${flavorText}"; the fleet's flavors: ${flavorList}`);
    }
    const timeLimitText = at.time_limit < 0 ? '' : (fields[at.time_limit] ?? '');
    const timeLimit =
      timeLimitText === '' ? null : seconds(line, 'time_limit', timeLimitText, true, ', or empty for none');
    const checkpointText = at.checkpoint_interval < 0 ? '' : (fields[at.checkpoint_interval] ?? '');
    const checkpointInterval =
      checkpointText === ''
        ? null
        : seconds(line, 'checkpoint_interval', checkpointText, false, ", or empty for the policy's");
    let durationByFlavor: Record<Flavor, number> | undefined;
    for (const { flavor: name, index } of perFlavor) {
      const value = fields[index] ?? '';
      if (value === '') continue;
      const work = seconds(line, `${PER_FLAVOR}${name}`, value, false, ', or empty to use duration');
      if (work !== undefined) (durationByFlavor ??= {})[name] = work;
    }

    if (
      found.length > before ||
      id === undefined ||
      submit === undefined ||
      team === undefined ||
      gpus === null
    )
      return;
    if (duration === undefined || className === undefined || flavor === undefined) return;
    if (timeLimit === undefined || checkpointInterval === undefined) return;
    const job: JobSpec = {
      id,
      submit,
      team,
      gpus,
      duration,
      class: className,
      flavor,
      timeLimit,
      checkpointInterval,
    };
    jobs.push(durationByFlavor ? { ...job, durationByFlavor } : job);
  };

  // Rows are only checked against a header that could be read.
  let header: 'expected' | 'read' | 'broken' = 'expected';
  readCsv(
    text,
    (fields, line) => {
      if (header === 'read') readJob(fields, line);
      else if (header === 'expected') {
        header = 'read';
        readHeader(fields);
      }
    },
    (line, message) => {
      if (header === 'expected') header = 'broken';
      problem(line, '', message);
    },
  );
  if (header === 'expected')
    problem(1, '', `the file is empty; expected a header row naming ${REQUIRED.join(', ')}`);

  const firstLine = new Map<string, number>();
  ids.forEach((id, index) => {
    const line = idLines[index] ?? 0;
    const first = firstLine.get(id);
    if (first === undefined) firstLine.set(id, line);
    else
      problem(line, 'column id', `"${id}" is already the id of the job on line ${first}; ids must be unique`);
  });

  if (found.length === 0) return { ok: true, value: jobs, warnings };
  // Stable: problems of one line keep the order in which they were found.
  const issues = found.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)).slice(0, MAX_LISTED_PROBLEMS);
  if (found.length > issues.length) {
    issues.push({ file, path: '', message: `... and ${found.length - issues.length} more problems` });
  }
  return { ok: false, issues };
}
