/**
 * Lists of numbers as single GraphQL values (`IntList`, `FloatList`). On the wire they are JSON arrays, as
 * `[Int!]` / `[Float!]` would be, but graphql-js serialises each one once instead of completing every element
 * (about 0.5 s for the five 100,000-element lists of a long run's `metricSeries`).
 */
import { GraphQLError, GraphQLScalarType } from 'graphql';

/** An element as it goes out (null for a double JSON cannot hold), or undefined when it is not one. */
type Element = (v: unknown) => number | null | undefined;

function numberList(name: string, description: string, element: Element): GraphQLScalarType {
  const coerce = (value: unknown): (number | null)[] => {
    // An array or a typed array (JSON.stringify writes the latter as an object): always a plain array out.
    if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && 'length' in value)) {
      throw new GraphQLError(`${name} must be a list of numbers`);
    }
    const list = value as ArrayLike<unknown>;
    const out: (number | null)[] = [];
    for (let i = 0; i < list.length; i++) {
      const v = element(list[i]);
      if (v === undefined) throw new GraphQLError(`${name}: element ${i} is not a valid number`);
      out.push(v);
    }
    return out;
  };
  return new GraphQLScalarType({ name, description, serialize: coerce, parseValue: coerce });
}

export const IntList = numberList(
  'IntList',
  'A list of integers, as a JSON array (the same text as [Int!]), transmitted as one value.',
  (v) => (Number.isSafeInteger(v) ? (v as number) : undefined),
);

export const FloatList = numberList(
  'FloatList',
  'A list of floating-point numbers, as a JSON array (the same text as [Float]), transmitted as one value; ' +
    'null stands for a value JSON cannot hold (NaN or an infinity, e.g. the loss of a diverged step).',
  (v) => {
    if (typeof v !== 'number') return v === null ? null : undefined;
    return Number.isFinite(v) ? v : null;
  },
);
