/**
 * Lists of numbers as single GraphQL values. `IntList` and `FloatList` are JSON arrays on the wire, as `[Int!]` /
 * `[Float!]` would be, but graphql-js serialises each one once instead of completing every element (about 0.5 s
 * for the five 100,000-element lists of a long run's `metricSeries`). `Int32Base64` and `Float64Base64` pack a
 * list into one base64 string of binary numbers.
 */
import { endianness } from 'node:os';
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

/**
 * A list of numbers as one base64 string of their little-endian binary form (what a typed array or numpy reads
 * directly): no number text for the server to write or a client to parse. Output only; serialises an array or
 * typed array of numbers.
 */
function packedList(
  name: string,
  description: string,
  Typed: Int32ArrayConstructor | Float64ArrayConstructor,
): GraphQLScalarType {
  const swap = endianness() === 'LE' ? null : Typed === Int32Array ? 'swap32' : 'swap64';
  return new GraphQLScalarType({
    name,
    description,
    serialize: (value) => {
      if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && 'length' in value)) {
        throw new GraphQLError(`${name} must be a list of numbers`);
      }
      // A typed array of the same kind as it is; anything else converted (an Int32Array wraps out-of-range values).
      const typed = value instanceof Typed ? value : Typed.from(value as ArrayLike<number>);
      const bytes = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
      return (swap ? Buffer.from(bytes)[swap]() : bytes).toString('base64');
    },
  });
}

export const Int32Base64 = packedList(
  'Int32Base64',
  'A list of integers as one base64 string of little-endian 32-bit signed integers (4 bytes each).',
  Int32Array,
);

export const Float64Base64 = packedList(
  'Float64Base64',
  'A list of floating-point numbers as one base64 string of little-endian IEEE 754 doubles (8 bytes each), ' +
    'exactly as stored: NaN and infinities (e.g. the loss of a diverged step) stay as they are.',
  Float64Array,
);
