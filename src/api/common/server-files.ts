/**
 * Server-side files a request names (a dataset file, a model folder): only inside the import root, judged by the
 * real path (symlinks and `..` resolved first), never inside the folder of job outputs (other projects'
 * checkpoints), opened without following a final link and only when it is a regular file (not a device, FIFO or
 * socket), read with a size cap and asynchronously (libuv's threads, not the API's event loop). A path that is
 * missing, unreadable or not allowed gets the same answer, so a tenant learns nothing about the server's files.
 */
import { constants } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { quote, UserInputError } from '../../errors';

export interface ImportRoots {
  /** The folder tenants may import from; null: server-side paths are off. */
  importRoot: string | null;
  /** The folder of job outputs, never importable. */
  jobsDir: string;
}

export interface OpenedFile {
  handle: FileHandle;
  size: number;
}

/** Paths are quoted whole up to this length (they are the caller's own input). */
const PATH_QUOTE_CHARS = 300;
const quotePath = (given: string) => quote(given, PATH_QUOTE_CHARS);

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const inside = (root: string, file: string) => {
  const relative = path.relative(root, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
};

/** The real path of a folder, or the folder as given while it does not exist. */
const realOrSelf = (dir: string) => realpath(dir).catch(() => path.resolve(dir));

export class ServerFiles {
  constructor(private readonly roots: ImportRoots) {}

  private refused(given: string): UserInputError {
    return new UserInputError(`no file or folder the server may import at ${quotePath(given)}`, []);
  }

  /** The real path of `given` when tenants may read it. */
  async resolve(given: string): Promise<string> {
    const { importRoot, jobsDir } = this.roots;
    if (importRoot === null) {
      throw new UserInputError(
        'server-side paths are off on this server (WHETSTONE_IMPORT_ROOT=off); upload the data instead',
        [],
      );
    }
    if (!path.isAbsolute(given))
      throw new UserInputError(`the path must be absolute, got ${quotePath(given)}`, []);
    const [real, root, jobs] = await Promise.all([
      realpath(given).catch(() => null),
      realOrSelf(importRoot),
      realOrSelf(jobsDir),
    ]);
    if (real === null || !inside(root, real) || inside(jobs, real)) throw this.refused(given);
    return real;
  }

  /** `given` resolved and opened, when it is a regular file of at most `maxBytes`; close the handle after use. */
  async open(given: string, maxBytes: number): Promise<OpenedFile> {
    const real = await this.resolve(given);
    const handle = await open(real, OPEN_FLAGS).catch(() => null);
    if (!handle) throw this.refused(given);
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new UserInputError(`${quotePath(given)} is not a regular file`, []);
      if (info.size > maxBytes) {
        throw new UserInputError(`${quotePath(given)} is larger than the ${maxBytes} bytes allowed here`, []);
      }
      return { handle, size: info.size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** A whole regular file of at most `maxBytes` as UTF-8 text. */
  async readText(given: string, maxBytes: number): Promise<string> {
    const { handle, size } = await this.open(given, maxBytes);
    try {
      // One byte more than checked tells a file that grew since.
      const buffer = Buffer.alloc(size + 1);
      const { bytesRead } = await handle.read(buffer, 0, size + 1, 0);
      if (bytesRead > maxBytes) {
        throw new UserInputError(`${quotePath(given)} is larger than the ${maxBytes} bytes allowed here`, []);
      }
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  /** The real path of `given` when it is a folder tenants may read. */
  async folder(given: string): Promise<string> {
    const real = await this.resolve(given);
    if (!(await stat(real).catch(() => null))?.isDirectory()) throw this.refused(given);
    return real;
  }
}
