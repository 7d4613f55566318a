/**
 * Datasets: imported from inline JSONL or a server-side file, every row checked by the training data parser (the
 * same one the engine uses), normalized rows stored in PostgreSQL in one transaction, so a rejected import stores
 * nothing and any worker on any machine can read the rows.
 */
import { readFile, stat } from 'node:fs/promises';
import type { DataSource, EntityManager } from 'typeorm';
import { DatasetEntity, DatasetKind, DatasetSplit } from '../../db/entities';
import { UserInputError } from '../../errors';
import { parseDatasetJsonl, splitTrainValidation } from '../../training/data';
import { isUniqueViolation } from '../common/db-errors';
import { isUuid } from '../common/ids';
import { checkName } from '../common/names';
import { checkServerPath } from '../common/paths';
import type { Principal } from '../context';
import { badInput, notFound } from '../errors';

export interface CreateDatasetRequest {
  name: string;
  kind: DatasetKind;
  jsonl?: string | null;
  path?: string | null;
  validationSplitRatio: number;
  splitSeed: number;
}

/** Largest server-side file read in one import. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;
/** Rows per INSERT statement. */
const INSERT_CHUNK = 1000;

export class DatasetService {
  constructor(
    private readonly db: DataSource,
    private readonly importRoot: string,
  ) {}

  list(principal: Principal): Promise<DatasetEntity[]> {
    return this.db
      .getRepository(DatasetEntity)
      .find({ where: { projectId: principal.projectId }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  async get(principal: Principal, id: string): Promise<DatasetEntity> {
    const dataset = await this.find(principal, id);
    if (!dataset) throw notFound('Dataset', id);
    return dataset;
  }

  async find(principal: Principal, id: string): Promise<DatasetEntity | null> {
    if (!isUuid(id)) return null;
    return this.db.getRepository(DatasetEntity).findOneBy({ id, projectId: principal.projectId });
  }

  async rows(
    datasetId: string,
    split: DatasetSplit,
    offset: number,
    limit: number,
  ): Promise<Record<string, unknown>[]> {
    if (!Number.isInteger(offset) || offset < 0) throw badInput('offset must be >= 0', ['offset']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw badInput('limit must be 1 to 1000', ['limit']);
    const rows: { data: Record<string, unknown> }[] = await this.db.query(
      `SELECT data FROM dataset_rows WHERE dataset_id = $1 AND split = $2 ORDER BY index OFFSET $3 LIMIT $4`,
      [datasetId, split, offset, limit],
    );
    return rows.map((r) => r.data);
  }

  async create(principal: Principal, input: CreateDatasetRequest): Promise<DatasetEntity> {
    const name = checkName(input.name, ['input', 'name']);
    if (!(input.validationSplitRatio >= 0 && input.validationSplitRatio <= 0.5)) {
      throw badInput('validationSplitRatio must be in [0, 0.5]', ['input', 'validationSplitRatio']);
    }
    if (!Number.isInteger(input.splitSeed) || input.splitSeed < 0) {
      throw badInput('splitSeed must be an integer >= 0', ['input', 'splitSeed']);
    }
    const { text, source, field } = await this.readSource(input);
    let rows: unknown[];
    try {
      rows = parseDatasetJsonl(text, input.kind);
    } catch (err) {
      if (err instanceof UserInputError) throw badInput(err.message, ['input', field, ...err.path]);
      throw err;
    }
    if (rows.length === 0) throw badInput('the dataset has no rows', ['input', field]);
    const { validation } = splitTrainValidation(rows.length, input.validationSplitRatio, input.splitSeed);
    const held = new Set(validation);
    const validationRowCount = held.size;
    try {
      return await this.db.transaction(async (m) => {
        const dataset = await m.getRepository(DatasetEntity).save({
          projectId: principal.projectId,
          name,
          kind: input.kind,
          rowCount: rows.length,
          trainRowCount: rows.length - validationRowCount,
          validationRowCount,
          validationSplitRatio: input.validationSplitRatio,
          splitSeed: input.splitSeed,
          source,
        });
        await insertRows(m, dataset.id, rows, held);
        return dataset;
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw badInput(`a dataset named "${name}" already exists`, ['input', 'name']);
      throw err;
    }
  }

  private async readSource(
    input: CreateDatasetRequest,
  ): Promise<{ text: string; source: string; field: 'jsonl' | 'path' }> {
    const hasText = typeof input.jsonl === 'string';
    const hasPath = typeof input.path === 'string';
    if (hasText === hasPath) throw badInput('give exactly one of jsonl and path', ['input']);
    if (hasText) return { text: input.jsonl as string, source: 'inline', field: 'jsonl' };
    const file = checkServerPath(input.path as string, this.importRoot, ['input', 'path']);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) throw badInput(`${file} is not a readable file`, ['input', 'path']);
    if (info.size > MAX_FILE_BYTES) {
      throw badInput(`${file} is larger than ${MAX_FILE_BYTES} bytes`, ['input', 'path']);
    }
    return { text: await readFile(file, 'utf8'), source: file, field: 'path' };
  }
}

async function insertRows(
  m: EntityManager,
  datasetId: string,
  rows: unknown[],
  held: ReadonlySet<number>,
): Promise<void> {
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    const end = Math.min(rows.length, start + INSERT_CHUNK);
    const indexes: number[] = [];
    const splits: string[] = [];
    const data: string[] = [];
    for (let i = start; i < end; i++) {
      indexes.push(i);
      splits.push(held.has(i) ? DatasetSplit.VALIDATION : DatasetSplit.TRAIN);
      data.push(JSON.stringify(rows[i]));
    }
    await m.query(
      `INSERT INTO dataset_rows (dataset_id, index, split, data)
       SELECT $1, * FROM unnest($2::int[], $3::text[], $4::jsonb[])`,
      [datasetId, indexes, splits, data],
    );
  }
}
