/**
 * Each table has one writer: every INSERT, UPDATE or DELETE of a table in src/, whether SQL text or a TypeORM
 * repository or query builder call, stands in the table's owner module (OWNERS). A write whose table is computed
 * (the job lifecycle of every kind) may stand only in the module that owns every job table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  COMPUTED,
  OWNERS,
  TABLE_OF_ENTITY,
  sourceFiles,
  strays,
  tableWrites,
} from '../../helpers/table-writes';

const ROOT = path.resolve(__dirname, '../../..');

describe('table writers', () => {
  const writes = sourceFiles(path.join(ROOT, 'src')).flatMap((f) =>
    tableWrites(path.relative(ROOT, f).split(path.sep).join('/'), fs.readFileSync(f, 'utf8')),
  );

  it('names an owner for every table', () => {
    expect(Object.keys(OWNERS).sort()).toEqual([...TABLE_OF_ENTITY.values()].sort());
  });

  it('finds every table written, each in its owner only', () => {
    expect(strays(writes)).toEqual([]);
    const written = new Set(writes.map((w) => w.table));
    // Job tables are also written through the computed ones (status changes of every kind).
    expect(Object.keys(OWNERS).filter((t) => !written.has(t))).toEqual([]);
  });

  it('reports a second writer, by SQL, by repository and by a computed table', () => {
    const file = 'src/worker/elsewhere.ts';
    const source = `
      // UPDATE training_jobs in a comment is no write
      async function f(db: DataSource, kind: JobKind) {
        await db.query(\`UPDATE training_jobs SET step = 1 WHERE id = $1\`, [id]);
        await db.getRepository(CheckpointEntity).delete({ id });
        const repo = db.getRepository(DatasetEntity);
        await repo.save({ name });
        await db.query(\`DELETE FROM \${jobTable(kind)} WHERE id = $1\`, [id]);
        await db.getRepository(DatasetEntity).findOneBy({ id });
        map.delete(id);
        await db.transaction((m) => m.update(ApiKeyEntity, { id }, { name }));
      }`;
    expect(strays(tableWrites(file, source))).toEqual([
      `${file}:4 writes training_jobs (owner: src/db/store/jobs.ts)`,
      `${file}:5 writes checkpoints (owner: src/db/store/checkpoints.ts)`,
      `${file}:7 writes datasets (owner: src/db/store/datasets.ts)`,
      `${file}:8 writes ${COMPUTED} (owner: the job store)`,
      `${file}:11 writes api_keys (owner: src/db/store/projects.ts)`,
    ]);
  });
});
