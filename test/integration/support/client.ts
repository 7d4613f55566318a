/** GraphQL clients for tests: HTTP through supertest and WebSocket through graphql-ws. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import request from 'supertest';
import WebSocket from 'ws';

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data: T | null;
  errors:
    | { message: string; extensions?: { code?: string; path?: string[] } & Record<string, unknown> }[]
    | undefined;
}

export type Gql = <T = Record<string, any>>( // eslint-disable-line @typescript-eslint/no-explicit-any
  query: string,
  variables?: Record<string, unknown>,
) => Promise<GqlResult<T>>;

/** A GraphQL caller over HTTP with `Authorization: Bearer <key>` (no header when key is null). */
export function httpClient(server: Server, key: string | null): Gql {
  return async (query, variables) => {
    let req = request(server).post('/graphql').set('content-type', 'application/json');
    if (key !== null) req = req.set('authorization', `Bearer ${key}`);
    const res = await req.send({ query, variables });
    return { status: res.status, data: res.body.data ?? null, errors: res.body.errors };
  };
}

/** The code of the first error, for short assertions. */
export function errorCode(result: GqlResult): string | undefined {
  return result.errors?.[0]?.extensions?.code;
}

export function wsUrl(server: Server): string {
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

export function wsClient(server: Server, authorization: string | undefined): Client {
  return createClient({
    url: wsUrl(server),
    webSocketImpl: WebSocket,
    connectionParams: authorization === undefined ? {} : { authorization },
    retryAttempts: 0,
    lazy: true,
  });
}

/** Collects a subscription's results until it completes (or fails). */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>) {
  const events: T[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let error: unknown;
  const done = new Promise<void>((resolve, reject) => {
    client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) error = value.errors;
          if (value.data) events.push(value.data as T);
          for (const w of waiters.filter((w) => events.length >= w.count)) w.resolve();
        },
        error: (err) => {
          error = err;
          reject(err);
        },
        complete: () => resolve(),
      },
    );
  });
  return {
    events,
    done,
    get error() {
      return error;
    },
    /** Resolves once at least `count` events arrived. */
    waitFor: (count: number) =>
      events.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}
