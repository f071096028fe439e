/** What the demo and benchmark commands share: argument checks and how they end. */

/** A bad command-line argument: printed as one line, without a stack trace. */
export class UsageError extends Error {}

export function positiveWholeNumber(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive whole number, not "${value}"`);
  return n;
}

/**
 * Runs a command's main and exits explicitly: silero's inference worker and keep-alive sockets would otherwise keep
 * the process alive after the work is done.
 */
export function runCommand(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      console.error(err instanceof UsageError ? `${name}: ${err.message}` : err);
      process.exit(1);
    },
  );
}
