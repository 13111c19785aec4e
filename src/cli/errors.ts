/** Bad input on the command line or in an input file: printed one problem per line, exit 2. */
export class UsageError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'UsageError';
  }
}
