/**
 * The console's only way to the server: one graphql-ws connection (queries, mutations and subscriptions) carrying
 * the API key; XMLHttpRequest for dataset uploads (it reports upload progress; fetch does not); fetch for downloads.
 */
import { CloseCode, createClient, type Client, type ExecutionResult } from 'graphql-ws';

const KEY_STORAGE = 'whetstone.apiKey';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

type Variables = Record<string, unknown>;
type GraphQLErrors = ExecutionResult['errors'];

let client: Client | null = null;

function toError(errors: GraphQLErrors | readonly { message: string }[] | undefined): ApiError {
  const first = errors?.[0] as { message: string; extensions?: { code?: string } } | undefined;
  return new ApiError(first?.message ?? 'request failed', first?.extensions?.code);
}

function closeToError(event: unknown): ApiError {
  const close = event as { code?: number; reason?: string };
  if (close?.code === CloseCode.Unauthorized)
    return new ApiError(close.reason ?? 'invalid API key', 'UNAUTHENTICATED');
  return new ApiError(close?.reason || 'connection to the server lost', 'NETWORK');
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
}

/** Opens the connection with `key`; `request` and `subscribe` use it until `disconnect`. */
export function connect(key: string): void {
  void client?.dispose();
  prefetched.clear();
  client = createClient({
    url: wsUrl(),
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 5,
    // Kept open between operations (sign-in's query, then the page's): a new socket and handshake cost ~0.1 s.
    lazyCloseTimeout: 30_000,
  });
}

export function disconnect(): void {
  sessionStorage.removeItem(KEY_STORAGE);
  void client?.dispose();
  prefetched.clear();
  client = null;
}

/** Signs in: connects and asks who the key is; keeps the key for this browser session only. */
export async function signIn<T>(key: string, viewerQuery: string): Promise<T> {
  connect(key);
  try {
    const viewer = await request<T>(viewerQuery);
    sessionStorage.setItem(KEY_STORAGE, key);
    return viewer;
  } catch (err) {
    disconnect();
    throw err;
  }
}

function active(): Client {
  if (!client) throw new ApiError('not signed in', 'UNAUTHENTICATED');
  return client;
}

/** Queries sent before their page asked for them (`prefetch`), by query and variables; each answers one request. */
const prefetched = new Map<string, Promise<unknown>>();
const operationKey = (query: string, variables?: Variables) =>
  `${query}\u0000${JSON.stringify(variables ?? {})}`;

/**
 * Sends a query a page is about to ask for (while the sign-in's query is still out, say); the page's `request`
 * with the same query and variables gets this answer. Forgotten when the connection changes.
 */
export function prefetch(query: string, variables: Variables): void {
  const answer = send(query, variables);
  // A failure shows where the page asks (if it does), not as an unhandled rejection here.
  answer.catch(() => undefined);
  prefetched.set(operationKey(query, variables), answer);
}

/** One query or mutation; resolves to its data or rejects with the first error (its `extensions.code`). */
export function request<T, V extends Variables = Variables>(query: string, variables?: V): Promise<T> {
  const key = operationKey(query, variables);
  const early = prefetched.get(key);
  prefetched.delete(key);
  return (early as Promise<T> | undefined) ?? send<T>(query, variables);
}

function send<T>(query: string, variables?: Variables): Promise<T> {
  return new Promise((resolve, reject) => {
    let data: T | null = null;
    active().subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) reject(toError(result.errors));
          else data = result.data as T;
        },
        error: (err) => reject(Array.isArray(err) ? toError(err) : closeToError(err)),
        complete: () => (data === null ? reject(new ApiError('no data', undefined)) : resolve(data)),
      },
    );
  });
}

export interface Subscriber<T> {
  next(data: T): void;
  error?(err: ApiError): void;
  complete?(): void;
}

/** A subscription; returns its stop function. */
export function subscribe<T, V extends Variables = Variables>(
  query: string,
  variables: V,
  sink: Subscriber<T>,
): () => void {
  return active().subscribe<T>(
    { query, variables },
    {
      next: (result) => (result.errors ? sink.error?.(toError(result.errors)) : sink.next(result.data as T)),
      error: (err) => sink.error?.(Array.isArray(err) ? toError(err) : closeToError(err)),
      complete: () => sink.complete?.(),
    },
  );
}

/**
 * Uploads a JSONL file to POST /datasets/upload (settings in the query string, the file as the body), reporting
 * upload progress (0..1); resolves to the stored dataset's id or rejects with the server's first error.
 */
export function uploadDataset(
  file: Blob,
  settings: Record<string, string>,
  onProgress: (fraction: number) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/datasets/upload?${new URLSearchParams(settings)}`);
    xhr.setRequestHeader('authorization', `Bearer ${storedKey() ?? ''}`);
    xhr.setRequestHeader('content-type', 'application/jsonl');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let answer: { data?: { dataset: { id: string } }; errors?: { message: string }[] };
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        return reject(new ApiError(`HTTP ${xhr.status}`, 'NETWORK'));
      }
      if (answer.data) resolve(answer.data.dataset.id);
      else reject(toError(answer.errors));
    };
    xhr.onerror = () => reject(new ApiError('upload failed', 'NETWORK'));
    xhr.send(file);
  });
}

/** Downloads an authenticated URL as a file (the key cannot go in a link). */
export async function download(url: string, filename: string): Promise<void> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${storedKey() ?? ''}` } });
  if (!res.ok) throw new ApiError(`download failed: HTTP ${res.status}`, 'NETWORK');
  const href = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href, download: filename });
  a.click();
  URL.revokeObjectURL(href);
}
