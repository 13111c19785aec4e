// The `arbiter` command. Exit codes (docs/cli.md): 0 success, 2 bad input, 1 anything else.
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

/** Builds the command tree; each command module adds itself. */
export function buildProgram(): Command {
  const program = new Command('arbiter')
    .description('Arbiter: fair, visible and governed sharing of a GPU fleet between teams')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCheck(program);
  registerSimulate(program);
  registerCompare(program);
  registerDemo(program);
  registerServe(program);
  registerClient(program);
  registerGovernance(program);
  registerAudit(program);
  registerTrace(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
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
