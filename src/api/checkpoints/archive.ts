/**
 * GET /checkpoints/:id/archive: a checkpoint folder as a tar stream (the PEFT adapter or Hugging Face folder
 * with its trainer state, the files at its top level; the final checkpoint's folder also holds the intermediate
 * checkpoint-N folders, which are left out). Authenticated like /graphql; a checkpoint of another project
 * answers exactly like an unknown id.
 */
import { createReadStream, promises as fs } from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import type { DataSource } from 'typeorm';
import { isUuid } from '../common/ids';
import type { Principal } from '../context';

export const ARCHIVE_ROUTE = /^\/checkpoints\/([^/]+)\/archive$/;

export function archiveUrl(checkpointId: string): string {
  return `/checkpoints/${checkpointId}/archive`;
}

interface Found {
  path: string;
  step: number;
  jobName: string;
}

async function findCheckpoint(db: DataSource, principal: Principal, id: string): Promise<Found | null> {
  if (!isUuid(id)) return null;
  const [row] = await db.query(
    `SELECT c.path, c.step, j.name AS "jobName" FROM checkpoints c JOIN training_jobs j ON j.id = c.job_id
      WHERE c.id = $1 AND j.project_id = $2`,
    [id, principal.projectId],
  );
  return (row as Found | undefined) ?? null;
}

/** The regular files at the top of `dir`, by name (symbolic links and folders are not part of a checkpoint). */
async function checkpointFiles(dir: string): Promise<{ name: string; size: number; mtime: Date }[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map(async (e) => {
        const stat = await fs.stat(path.join(dir, e.name));
        return { name: e.name, size: stat.size, mtime: stat.mtime };
      }),
  );
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** A file name safe in a Content-Disposition header. */
const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'checkpoint';

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

export async function serveCheckpointArchive(
  db: DataSource,
  principal: Principal,
  id: string,
  res: ServerResponse,
): Promise<void> {
  const found = await findCheckpoint(db, principal, id);
  const files = found ? await checkpointFiles(found.path).catch(() => null) : null;
  if (!found || !files) {
    // A folder gone from the disk (deleted, or not mounted on this API host) is as absent as an unknown id.
    sendError(res, 404, 'NOT_FOUND', `Checkpoint ${id} not found`);
    return;
  }
  const name = `${safeName(found.jobName)}-checkpoint-${found.step}`;
  res.writeHead(200, {
    'content-type': 'application/x-tar',
    'content-disposition': `attachment; filename="${name}.tar"`,
  });
  const tar = tarPack();
  const writing = pipeline(tar, res);
  try {
    for (const file of files) {
      const entry = tar.entry({
        name: `${name}/${file.name}`,
        size: file.size,
        mtime: file.mtime,
        mode: 0o644,
      });
      await pipeline(createReadStream(path.join(found.path, file.name)), entry);
    }
    tar.finalize();
  } catch (err) {
    tar.destroy(err as Error);
  }
  await writing.catch(() => undefined);
}
