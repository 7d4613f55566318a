/**
 * The API's error vocabulary. Every error a client sees carries a stable `extensions.code`:
 * BAD_USER_INPUT (with `extensions.path`, the offending field), NOT_FOUND, CONFLICT (a bad state transition),
 * UNAUTHENTICATED, FORBIDDEN; anything unexpected is INTERNAL_SERVER_ERROR without internals.
 */
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { UserInputError } from '../errors';

export function badInput(message: string, path: readonly string[]): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', path } });
}

export function notFound(kind: string, id: string): GraphQLError {
  return new GraphQLError(`${kind} ${id} not found`, { extensions: { code: 'NOT_FOUND' } });
}

export function conflict(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'CONFLICT' } });
}

export function forbidden(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
}

export function unauthenticated(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

/** Turns a UserInputError from a service (or from shared code such as the dataset parser) into BAD_USER_INPUT. */
export function fromUserInput(err: UserInputError, prefix: readonly string[] = []): GraphQLError {
  return badInput(err.message, [...prefix, ...err.path]);
}

const CLIENT_CODES = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BODY_TOO_LARGE',
]);

/** Longest message sent; longer ones (graphql-js quotes whole variable values) are cut. */
export const MAX_MESSAGE_CHARS = 500;

const shortened = (message: string) =>
  message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS)}…`;

/** Apollo's `formatError`: keeps client errors as they are, hides the details of everything else. */
export function formatError(
  formatted: GraphQLFormattedError,
  error: unknown,
  log: (message: string, err: unknown) => void = (m, e) => console.error(m, e),
): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof UserInputError) {
    const reason = original.code === 'BAD_USER_INPUT' ? {} : { reason: original.code };
    return {
      ...formatted,
      message: shortened(original.message),
      extensions: { code: 'BAD_USER_INPUT', path: original.path, ...reason },
    };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && CLIENT_CODES.has(code)) {
    const { http: _http, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, message: shortened(formatted.message), extensions };
  }
  log('internal error', original);
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
}
