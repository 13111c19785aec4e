// The repository stands alone: a clone with nothing beside it must test, build and document
// itself. Nothing in src/ or test/ may read or cite the folder of shared material that sat beside
// the repository during development; the README and every --help text point inside the
// repository (docs/), and every docs/ page they name exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { repoRoot } from './cli-harness.js';

// Built from parts so that this file does not match itself.
const SHARED = ['..', 'shared'].join('/');
const NEEDLES = [SHARED, ['shared', 'traces'].join('/'), ['shared', 'spec'].join('/')];

/** Every file under `dir` (relative to the repository root), sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (relative: string): void => {
    for (const entry of readdirSync(path.join(repoRoot, relative), { withFileTypes: true })) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk(dir);
  return out.sort();
}

/** A contract page cited by its old place outside the repository (spec/<page>.md). */
const OLD_SPEC = /(^|[^\w/])spec\/[\w-]+\.md/;

/** `file:line: text` for every line of `text` that names one of the needles or an old spec page. */
function mentions(file: string, text: string): string[] {
  return text
    .split('\n')
    .flatMap((line, i) =>
      NEEDLES.some((needle) => line.includes(needle)) || OLD_SPEC.test(line)
        ? [`${file}:${i + 1}: ${line.trim()}`]
        : [],
    );
}

/** The docs/*.md pages `text` names, e.g. `docs/formats.md`. */
const docsNamed = (text: string): string[] => [...new Set(text.match(/docs\/[\w./-]+\.md/g) ?? [])];

/** The full --help output of every command and subcommand, as `arbiter a b --help` prints it. */
function helpTexts(): Map<string, string> {
  const texts = new Map<string, string>();
  const visit = (command: Command, name: string): void => {
    let text = '';
    command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    command.outputHelp();
    texts.set(name, text);
    for (const sub of command.commands) visit(sub, `${name} ${sub.name()}`);
  };
  visit(buildProgram(), 'arbiter');
  return texts;
}

describe('the repository stands alone', () => {
  it('no file in src/ or test/ reads or cites the shared folder beside the repository', () => {
    const files = [...filesUnder('src'), ...filesUnder('test')];
    expect(files.length).toBeGreaterThan(100);
    expect(files).toContain(path.join('test', 'standalone.test.ts'));
    expect(files.flatMap((file) => mentions(file, readFileSync(path.join(repoRoot, file), 'utf8')))).toEqual(
      [],
    );
  });

  it('the README points inside the repository, and the docs it names exist', () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    expect(mentions('README.md', readme)).toEqual([]);
    expect(readme).not.toContain(SHARED);
    const named = docsNamed(readme);
    expect(named).toEqual(expect.arrayContaining(['docs/formats.md', 'docs/cli.md', 'docs/api.md']));
    expect(named.filter((doc) => !existsSync(path.join(repoRoot, doc)))).toEqual([]);
  });

  it('no --help text mentions the shared folder, and the docs they name exist', () => {
    const texts = helpTexts();
    expect(texts.size).toBeGreaterThan(20);
    expect(texts.get('arbiter trace import')).toContain('--format');
    const found = [...texts].flatMap(([name, text]) => mentions(`${name} --help`, text));
    expect(found).toEqual([]);
    const named = [...texts.values()].flatMap(docsNamed);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((doc) => !existsSync(path.join(repoRoot, doc)))).toEqual([]);
  });
});
