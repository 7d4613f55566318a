/** Paged lists: the page size every list takes and the shape of a page (edges with cursors, then page info). */
import { badInput } from '../errors';

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;

/** The `first` argument of every paged list. */
export const FIRST = {
  defaultValue: DEFAULT_PAGE_SIZE,
  description: `Page size, 1 to ${MAX_PAGE_SIZE}. Default: ${DEFAULT_PAGE_SIZE}.`,
};

export function checkFirst(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be 1 to ${MAX_PAGE_SIZE}`, ['first']);
  }
}

export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

/** A page from `first + 1` fetched rows. */
export function toPage<T>(rows: readonly T[], first: number, cursorOf: (row: T) => string): Page<T> {
  const edges = rows.slice(0, first).map((node) => ({ cursor: cursorOf(node), node }));
  return { edges, pageInfo: { endCursor: edges.at(-1)?.cursor ?? null, hasNextPage: rows.length > first } };
}
