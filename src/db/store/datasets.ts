/** The one writer of `datasets` and `dataset_rows`: an imported dataset, its rows and its split. */
import type { DeepPartial, EntityManager } from 'typeorm';
import { DatasetEntity, DatasetSplit } from '../entities';
import type { Queryable } from '../query';

/** Rows per INSERT statement. */
const INSERT_CHUNK = 1000;

export function insertDataset(
  m: Pick<EntityManager, 'getRepository'>,
  dataset: DeepPartial<DatasetEntity>,
): Promise<DatasetEntity> {
  return m.getRepository(DatasetEntity).save(dataset);
}

/** Inserts the rows (all TRAIN at first) in chunks; the number of rows. */
export async function insertDatasetRows(
  m: Queryable,
  datasetId: string,
  rows: AsyncIterable<unknown>,
): Promise<number> {
  let count = 0;
  let chunk: string[] = [];
  const flush = async () => {
    const indexes = chunk.map((_, i) => count - chunk.length + i);
    await m.query(
      `INSERT INTO dataset_rows (dataset_id, index, split, data)
       SELECT $1, i, $2, d FROM unnest($3::int[], $4::jsonb[]) AS t(i, d)`,
      [datasetId, DatasetSplit.TRAIN, indexes, chunk],
    );
    chunk = [];
  };
  for await (const row of rows) {
    chunk.push(JSON.stringify(row));
    count++;
    if (chunk.length === INSERT_CHUNK) await flush();
  }
  if (chunk.length) await flush();
  return count;
}

/** Moves the rows of `indexes` to the validation split. */
export async function markValidationRows(
  m: Queryable,
  datasetId: string,
  indexes: readonly number[],
): Promise<void> {
  await m.query(`UPDATE dataset_rows SET split = $3 WHERE dataset_id = $1 AND index = ANY($2::int[])`, [
    datasetId,
    indexes,
    DatasetSplit.VALIDATION,
  ]);
}

export async function setDatasetCounts(
  m: Pick<EntityManager, 'getRepository'>,
  id: string,
  counts: Pick<DatasetEntity, 'rowCount' | 'trainRowCount' | 'validationRowCount'>,
): Promise<void> {
  await m.getRepository(DatasetEntity).update(id, counts);
}
