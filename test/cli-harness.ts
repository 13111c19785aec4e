// Shared by the tests that run the built `arbiter` command as a child process.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/arbiter.js ...args` in `cwd` (the repository root by default). */
export function runArbiter(args: readonly string[], cwd: string = repoRoot): CliRun {
  const { status, stdout, stderr } = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'bin/arbiter.js'), ...args],
    {
      cwd,
      encoding: 'utf8',
    },
  );
  return { status, stdout, stderr };
}

/**
 * Fails when dist/ lacks or predates one of `sources` (paths under src/): the tests run the
 * built command and must not build it themselves (test files run in parallel).
 */
export function assertDistFresh(sources: readonly string[]): void {
  const stale = sources.filter((source) => {
    const built = path.join(repoRoot, 'dist', source.replace(/\.ts$/, '.js'));
    return (
      !existsSync(built) || statSync(built).mtimeMs < statSync(path.join(repoRoot, 'src', source)).mtimeMs
    );
  });
  if (stale.length > 0) {
    throw new Error(
      `dist/ is missing or older than src/${stale.join(', src/')}: run \`npx tsc -p tsconfig.build.json\` first (npm test does)`,
    );
  }
}
