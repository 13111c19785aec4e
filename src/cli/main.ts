// The `arbiter` command. Exit codes (docs/cli.md): 0 success, 2 bad input, 1 anything else.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CheckFailed, Failure, UsageError } from './errors.js';
import { registerCheck } from './commands/check.js';
import { registerTrace } from './commands/trace-import.js';
import { registerSimulate } from './commands/simulate.js';
import { registerDemo } from './commands/demo.js';
import { registerCompare } from './commands/compare.js';
import { registerServe } from './commands/serve.js';
import { registerClient } from './commands/client.js';
import { registerGovernance } from './commands/governance.js';
import { registerAudit } from './commands/audit.js';
import { registerKueue } from './commands/kueue.js';
import { registerUsage } from './commands/usage.js';
import { registerSbatch } from './commands/sbatch.js';

/** The package's version (package.json sits two folders above dist/cli/ and src/cli/). */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Builds the command tree; each command module adds itself. */
export function buildProgram(): Command {
  const program = new Command('arbiter')
    .description('Arbiter: fair, visible and governed sharing of a GPU fleet between teams')
    .version(`arbiter ${VERSION}`, '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCheck(program);
  registerSimulate(program);
  registerCompare(program);
  registerDemo(program);
  registerServe(program);
  registerClient(program);
  registerSbatch(program);
  registerUsage(program);
  registerGovernance(program);
  registerAudit(program);
  registerTrace(program);
  registerKueue(program);
  markRequired(program);
  return program;
}

/**
 * Every option that must be given says so in --help: a requiredOption whose description does
 * not already say "required" gets "(required)" (commander checks them, but does not show it).
 */
function markRequired(command: Command): void {
  for (const option of command.options) {
    if (option.mandatory && !/\brequired\b/.test(option.description)) option.description = `${option.description} (required)`;
  }
  command.commands.forEach(markRequired);
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    // `arbiter` alone: what it can do, on stdout, and success.
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; unknown options and missing arguments with 2.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      for (const line of error.lines) process.stderr.write(`${line}\n`);
      return 2;
    }
    if (error instanceof CheckFailed || error instanceof Failure) {
      // A check that ran and failed (a tampered audit log), or an expected failure of the
      // environment (a server not reachable, a port in use): its lines, no stack trace.
      for (const line of error.lines) process.stderr.write(`${line}\n`);
      return 1;
    }
    throw error;
  }
}
