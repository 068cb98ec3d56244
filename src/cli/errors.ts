/** Process exit codes of every `slumber` command; documented in `--help` and the README. */
export const ExitCode = {
  ok: 0,
  /** The command could not do its job: API server unreachable, target not found, refused by policy. */
  failure: 1,
  /** Bad usage or invalid input: unknown flag, malformed duration, invalid config file. */
  usage: 2,
  /** `wake`/`sleep`: the target did not reach the state within `--timeout`. */
  timeout: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  runtime failure (API server unreachable, target not found, refused by policy)
  2  usage error or invalid input (flags, durations, config file)
  3  timed out waiting for a target to reach the requested state`;

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}
