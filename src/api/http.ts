/**
 * Node HTTP plumbing for Apollo and the upload endpoint: bodies read with a cap (a declared length over it is
 * refused before any byte is read), Apollo's response written back, and errors in GraphQL's shape with a stable
 * `extensions.code`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import { GraphQLError } from 'graphql';

export class BodyTooLargeError extends GraphQLError {
  constructor(maxBytes: number) {
    super(`the request body is larger than ${maxBytes} bytes`, {
      extensions: { code: 'BODY_TOO_LARGE', maxBytes },
    });
  }
}

/** The request's chunks, refusing a body (declared or sent) of more than `maxBytes`. */
export async function* cappedBody(req: IncomingMessage, maxBytes: number): AsyncGenerator<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw new BodyTooLargeError(maxBytes);
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new BodyTooLargeError(maxBytes);
    yield chunk as Buffer;
  }
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of cappedBody(req, maxBytes)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function toGraphQLRequest(
  req: IncomingMessage,
  url: URL,
  maxBytes: number,
): Promise<HTTPGraphQLRequest> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  let body: unknown = undefined;
  if (req.method === 'POST') {
    const text = await readBody(req, maxBytes);
    const type = headers.get('content-type') ?? '';
    // Apollo answers malformed or non-JSON bodies itself (400); only well-formed JSON is handed over parsed.
    if (type.includes('application/json')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } else body = text;
  }
  return { method: req.method ?? 'GET', headers, search: url.search, body };
}

export async function writeGraphQLResponse(
  res: ServerResponse,
  response: HTTPGraphQLResponse,
): Promise<void> {
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

/**
 * An error response `{"errors": [...]}`. When the request body was not read to its end, the connection closes
 * after the response instead of reading the rest.
 */
export function sendErrors(
  res: ServerResponse,
  status: number,
  errors: readonly unknown[],
  bodyUnread: boolean,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (bodyUnread) res.setHeader('connection', 'close');
  sendJson(res, status, { errors });
}
