/**
 * Limits at the door, so that no single request can stall or exhaust the API: the size of a request body, the
 * tokens, depth, cost and aliases of an operation (graphql-armor's rules), and the length of every string and
 * list an operation passes in, with text PostgreSQL cannot store refused as well. The same checks run for HTTP
 * and WebSocket operations.
 *
 * Every string argument or input field is at most DEFAULT_MAX_STRING characters (IDs DEFAULT_MAX_ID) and every
 * list at most DEFAULT_MAX_ITEMS items, unless the field or argument raises its own limit with schema extensions
 * `{ maxLength, maxItems }` (type-graphql: `@Extensions({ maxLength: N })`); `maxLength` of a list applies to each
 * item.
 */
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  isInputObjectType,
  isListType,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { getArgumentValues, getVariableValues } from 'graphql/execution/values';
import { unstorable } from './common/text';

/** Largest GraphQL request body (inline JSONL datasets travel in it; larger ones use the upload endpoint). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export const MAX_TOKENS = 5_000;
export const MAX_DEPTH = 10;
export const MAX_ALIASES = 15;
export const MAX_COST = 5_000;

export const DEFAULT_MAX_STRING = 1_000;
export const DEFAULT_MAX_ID = 100;
export const DEFAULT_MAX_ITEMS = 100;

/** What a field or argument may declare in its schema extensions. */
export interface InputLimits {
  maxLength?: number;
  maxItems?: number;
}

/** graphql-armor's rules report a violation as a validation error (thrown, it would be an internal one). */
const reported = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, err: GraphQLError) => context?.reportError(err)],
};

/** graphql-armor's depth, cost and alias rules; a violation is GRAPHQL_VALIDATION_FAILED. */
export const LIMIT_RULES: ValidationRule[] = [
  maxDepthRule({ n: MAX_DEPTH, ...reported }),
  maxAliasesRule({ n: MAX_ALIASES, ...reported }),
  costLimitRule({ maxCost: MAX_COST, ...reported }),
];

/** graphql-js's own token limit, applied while parsing. */
export const PARSE_OPTIONS = { maxTokens: MAX_TOKENS };

function refused(message: string, path: readonly string[]): GraphQLError {
  // The HTTP status keeps Apollo from answering a check before execution with a 500.
  return new GraphQLError(message, {
    extensions: { code: 'BAD_USER_INPUT', path, http: { status: 400 } },
  });
}

function checkValue(
  type: GraphQLInputType,
  value: unknown,
  limits: InputLimits,
  path: string[],
): GraphQLError | null {
  if (value === null || value === undefined) return null;
  const nullable = getNullableType(type);
  const at = path.join('.');
  if (isListType(nullable)) {
    const items = value as unknown[];
    const maxItems = limits.maxItems ?? DEFAULT_MAX_ITEMS;
    if (items.length > maxItems) return refused(`${at} has ${items.length} items; at most ${maxItems}`, path);
    for (let i = 0; i < items.length; i++) {
      const err = checkValue(nullable.ofType, items[i], { maxLength: limits.maxLength }, [
        ...path,
        String(i),
      ]);
      if (err) return err;
    }
    return null;
  }
  if (isInputObjectType(nullable)) {
    const fields = nullable.getFields();
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      const field = fields[name];
      if (!field) continue;
      const err = checkValue(field.type, v, field.extensions as InputLimits, [...path, name]);
      if (err) return err;
    }
    return null;
  }
  if (typeof value !== 'string') return null;
  const maxLength =
    limits.maxLength ?? (getNamedType(type).name === 'ID' ? DEFAULT_MAX_ID : DEFAULT_MAX_STRING);
  if (value.length > maxLength)
    return refused(`${at} is ${value.length} characters long; at most ${maxLength}`, path);
  const reason = unstorable(value);
  return reason ? refused(`${at} ${reason}`, path) : null;
}

/**
 * The first string or list argument of the operation (literal or variable, at any depth) over its limit or
 * holding text PostgreSQL cannot store, or the first variable that does not coerce to its type, as BAD_USER_INPUT
 * naming it; null when all are fine.
 */
export function checkInputs(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): GraphQLError | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, {
    maxErrors: 1,
  });
  // Variables that do not coerce are the caller's error too (graphql-js's own error for too many has no code).
  if (coerced.errors) {
    const variable = /Variable "\$(\w+)"/.exec(coerced.errors[0].message)?.[1];
    return refused(coerced.errors[0].message, variable ? [variable] : []);
  }
  const typeInfo = new TypeInfo(schema);
  let found: GraphQLError | null = null;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const def = typeInfo.getFieldDef();
        if (found || !def || def.args.length === 0) return;
        let args: Record<string, unknown>;
        try {
          args = getArgumentValues(def, node, coerced.coerced);
        } catch {
          return;
        }
        for (const arg of def.args) {
          found ??= checkValue(arg.type, args[arg.name], arg.extensions as InputLimits, [arg.name]);
        }
      },
    }),
  );
  return found;
}
