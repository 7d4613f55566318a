/**
 * The web console's built files (Vite's output, `npm run build`) served at `/`: files by path, and index.html for
 * any other GET path so the console's own router handles deep links. Hashed assets are cached for good.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { sendJson } from './http';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

async function fileIn(dir: string, relative: string): Promise<string | null> {
  const file = path.join(dir, path.normalize(relative));
  if (file !== dir && !file.startsWith(dir + path.sep)) return null;
  const info = await stat(file).catch(() => null);
  return info?.isFile() ? file : null;
}

/** Answers a GET or HEAD for `pathname` from `dir`; 404 when the console was not built. */
export async function serveConsole(
  dir: string,
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let relative: string;
  try {
    relative = decodeURIComponent(pathname);
  } catch {
    relative = '/';
  }
  const found = relative === '/' ? null : await fileIn(dir, relative);
  const file = found ?? (await fileIn(dir, 'index.html'));
  if (!file) {
    sendJson(res, 404, { error: `the console is not built (npm run build); the API is at /graphql` });
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'cache-control':
      found && relative.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}
