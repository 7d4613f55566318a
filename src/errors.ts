/**
 * An error caused by what the user supplied (a file, a config, a dataset row, an argument).
 * `code` is stable and machine-readable; the API maps it into `extensions.code`.
 * `path` names the offending field or location (e.g. ['hyperparameters', 'learningRate'] or ['line', '7']).
 */
export class UserInputError extends Error {
  constructor(
    message: string,
    readonly path: string[] = [],
    readonly code: string = 'BAD_USER_INPUT',
  ) {
    super(message);
    this.name = 'UserInputError';
  }
}

/** A capability that exists but cannot run here (e.g. an execution provider whose libraries are missing). */
export class UnavailableError extends Error {
  readonly code = 'UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/** Longest piece of user input an error message repeats, so no message sends megabytes back. */
export const QUOTE_CHARS = 40;

/** `value` as a JSON string cut to `max` characters (an ellipsis says it was cut). */
export function quote(value: string, max = QUOTE_CHARS): string {
  return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, max))}…`;
}
