/** Rows inserted directly, for tests of the storage and worker layers below the API. */
import type { DataSource } from 'typeorm';

export async function insertProject(db: DataSource, name = `p-${Math.random().toString(36).slice(2)}`) {
  const [row] = await db.query(`INSERT INTO projects (name) VALUES ($1) RETURNING id`, [name]);
  return row.id as string;
}

/** A QUEUED SFT job on a placeholder model and dataset row (nothing here trains). */
export async function insertJob(db: DataSource, projectId?: string): Promise<string> {
  const project = projectId ?? (await insertProject(db));
  const [model] = await db.query(
    `INSERT INTO base_models (project_id, name, path, architecture, model_type, parameter_count,
            max_sequence_length, vocabulary_size)
     VALUES ($1, $2, '/nowhere', 'LlamaForCausalLM', 'llama', 1, 128, 259) RETURNING id`,
    [project, `m-${Math.random()}`],
  );
  const [dataset] = await db.query(
    `INSERT INTO datasets (project_id, name, kind, row_count, train_row_count, validation_row_count,
            validation_split_ratio, split_seed, source)
     VALUES ($1, $2, 'SFT', 1, 1, 0, 0, 0, 'inline') RETURNING id`,
    [project, `d-${Math.random()}`],
  );
  const [job] = await db.query(
    `INSERT INTO training_jobs (project_id, name, base_model_id, dataset_id, method, parameter_scale,
            hyperparameters, status)
     VALUES ($1, 'j', $2, $3, 'SFT', 'LORA', '{}', 'QUEUED') RETURNING id`,
    [project, model.id, dataset.id],
  );
  return job.id;
}
