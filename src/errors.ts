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
