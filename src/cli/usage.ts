// Usage errors exit with code 2 and show the command's help.
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
  }
}
