/**
 * Datasets: imported from inline JSONL, a server-side file or an upload, every row checked by the training data
 * parser (the same one the engine uses) and for text PostgreSQL cannot store, normalized rows streamed into
 * PostgreSQL in one transaction, so a rejected import stores nothing, memory stays bounded whatever the size, and
 * any worker on any machine can read the rows.
 */
import type { DataSource } from 'typeorm';
import { DatasetEntity, DatasetKind, DatasetSplit } from '../../db/entities';
import {
  insertDataset,
  insertDatasetRows,
  markValidationRows,
  setDatasetCounts,
} from '../../db/store/datasets';
import { UserInputError } from '../../errors';
import { parseDatasetLine, splitTrainValidation } from '../../data';
import { isUniqueViolation } from '../common/db-errors';
import { findInProject } from '../common/ids';
import { checkName } from '../common/names';
import type { ServerFiles } from '../common/server-files';
import { firstUnstorable } from '../common/text';
import type { Principal } from '../context';
import { badInput, fromUserInput, notFound } from '../errors';
import { jsonlLines, textLines, type JsonlLine } from './lines';

export interface DatasetSettings {
  name: string;
  kind: DatasetKind;
  validationSplitRatio: number;
  splitSeed: number;
}

export interface CreateDatasetRequest extends DatasetSettings {
  jsonl?: string | null;
  path?: string | null;
}

/** Where the rows come from, and the field errors about them are reported under. */
export interface DatasetSource {
  lines: AsyncIterable<JsonlLine> | Iterable<JsonlLine>;
  /** `inline`, `upload`, or the server-side file. */
  source: string;
  at: readonly string[];
}

/** Largest server-side file read in one import. */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** Most row bytes one `rows` page returns. */
export const MAX_PAGE_BYTES = 16 * 1024 * 1024;

export class DatasetService {
  constructor(
    private readonly db: DataSource,
    private readonly files: ServerFiles,
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
    return findInProject(this.db, DatasetEntity, principal, id);
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
    // The page ends early once it holds MAX_PAGE_BYTES (it always holds its first row).
    const rows: { data: Record<string, unknown> }[] = await this.db.query(
      `SELECT data FROM (
         SELECT data, index, sum(octet_length(data::text)) OVER (ORDER BY index) - octet_length(data::text) AS before
           FROM (SELECT data, index FROM dataset_rows WHERE dataset_id = $1 AND split = $2
                  ORDER BY index OFFSET $3 LIMIT $4) page) sized
        WHERE before < $5 ORDER BY index`,
      [datasetId, split, offset, limit, MAX_PAGE_BYTES],
    );
    return rows.map((r) => r.data);
  }

  /** A dataset from inline JSONL or a server-side file. */
  async create(principal: Principal, input: CreateDatasetRequest): Promise<DatasetEntity> {
    const hasText = typeof input.jsonl === 'string';
    const hasPath = typeof input.path === 'string';
    if (hasText === hasPath) throw badInput('give exactly one of jsonl and path', ['input']);
    if (hasText) {
      return this.import(principal, input, {
        lines: textLines(input.jsonl as string),
        source: 'inline',
        at: ['input', 'jsonl'],
      });
    }
    const given = input.path as string;
    let file;
    try {
      file = await this.files.open(given, MAX_FILE_BYTES);
    } catch (err) {
      if (err instanceof UserInputError) throw fromUserInput(err, ['input', 'path']);
      throw err;
    }
    try {
      const source = await this.files.resolve(given);
      const stream = file.handle.createReadStream({ start: 0, end: file.size - 1, autoClose: false });
      return await this.import(principal, input, {
        lines: jsonlLines(stream),
        source,
        at: ['input', 'path'],
      });
    } finally {
      await file.handle.close();
    }
  }

  /**
   * Checks `settings` (errors under `at`, e.g. ['input']) and streams the rows of `from` into a new dataset; the
   * first bad line rejects the import, naming it under `from.at`.
   */
  async import(principal: Principal, settings: DatasetSettings, from: DatasetSource): Promise<DatasetEntity> {
    const name = checkSettings(settings, from.at.slice(0, -1));
    try {
      return await this.db.transaction(async (m) => {
        // Placeholder counts (the table wants rows) until the rows are in.
        const dataset = await insertDataset(m, {
          projectId: principal.projectId,
          name,
          kind: settings.kind,
          rowCount: 1,
          trainRowCount: 1,
          validationRowCount: 0,
          validationSplitRatio: settings.validationSplitRatio,
          splitSeed: settings.splitSeed,
          source: from.source,
        });
        const rowCount = await insertDatasetRows(m, dataset.id, checkedRows(from, settings.kind));
        if (rowCount === 0) throw badInput('the dataset has no rows', [...from.at]);
        const { validation } = splitTrainValidation(
          rowCount,
          settings.validationSplitRatio,
          settings.splitSeed,
        );
        await markValidationRows(m, dataset.id, validation);
        Object.assign(dataset, {
          rowCount,
          trainRowCount: rowCount - validation.length,
          validationRowCount: validation.length,
        });
        await setDatasetCounts(m, dataset.id, {
          rowCount: dataset.rowCount,
          trainRowCount: dataset.trainRowCount,
          validationRowCount: dataset.validationRowCount,
        });
        return dataset;
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw badInput(`a dataset named ${JSON.stringify(name)} already exists`, [
          ...from.at.slice(0, -1),
          'name',
        ]);
      throw err;
    }
  }
}

/** Name, ratio and seed checked (errors under `at`); the trimmed name. */
function checkSettings(settings: DatasetSettings, at: readonly string[]): string {
  const name = checkName(settings.name, [...at, 'name']);
  if (!(settings.validationSplitRatio >= 0 && settings.validationSplitRatio <= 0.5)) {
    throw badInput('validationSplitRatio must be in [0, 0.5]', [...at, 'validationSplitRatio']);
  }
  if (!Number.isInteger(settings.splitSeed) || settings.splitSeed < 0 || settings.splitSeed > 2147483647) {
    throw badInput('splitSeed must be an integer in [0, 2147483647]', [...at, 'splitSeed']);
  }
  return name;
}

/** The normalized rows of `from`, each parsed and checked to be storable; errors name the line. */
async function* checkedRows(from: DatasetSource, kind: DatasetKind): AsyncGenerator<unknown> {
  for await (const line of from.lines) {
    let row;
    try {
      row = parseDatasetLine(line.text, line.number, kind);
    } catch (err) {
      if (err instanceof UserInputError) throw fromUserInput(err, from.at);
      throw err;
    }
    if (row === null) continue;
    const bad = firstUnstorable(row);
    if (bad) {
      throw badInput(`line ${line.number}: "${bad.path.join('.')}" ${bad.reason}`, [
        ...from.at,
        'line',
        String(line.number),
        ...bad.path,
      ]);
    }
    yield row;
  }
}
