/** Bad input on the command line or in an input file: printed one problem per line, exit 2. */
export class UsageError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'UsageError';
  }
}

/** A check that ran and failed (an audit log that does not verify): its lines go to stderr, exit 1. */
export class CheckFailed extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'CheckFailed';
  }
}

/**
 * An expected failure of the environment (the server cannot be reached, the port or the data
 * directory is taken): its lines go to stderr without a stack trace, exit 1.
 */
export class Failure extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'Failure';
  }
}
