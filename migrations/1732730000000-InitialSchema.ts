import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Projects, API keys, base models, datasets with their rows, training jobs, step metrics and checkpoints.
 * Unqualified names: the connection's search_path selects the schema, so tests can use one schema each.
 */
export class InitialSchema1732730000000 implements MigrationInterface {
  name = 'InitialSchema1732730000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE projects (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE,
        is_default boolean NOT NULL DEFAULT false,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX projects_one_default ON projects (is_default) WHERE is_default`);

    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('ADMIN', 'MEMBER')),
        key_hash text NOT NULL UNIQUE,
        key_prefix text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        revoked_at timestamptz(3),
        last_used_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX api_keys_project ON api_keys (project_id, created_at DESC)`);

    await q.query(`
      CREATE TABLE base_models (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name text NOT NULL,
        path text NOT NULL,
        architecture text NOT NULL,
        model_type text NOT NULL,
        parameter_count bigint NOT NULL CHECK (parameter_count > 0),
        max_sequence_length integer NOT NULL CHECK (max_sequence_length > 0),
        vocabulary_size integer NOT NULL CHECK (vocabulary_size > 0),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (project_id, name)
      )`);

    await q.query(`
      CREATE TABLE datasets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('SFT', 'PREFERENCE', 'PROMPT_ONLY')),
        row_count integer NOT NULL CHECK (row_count > 0),
        train_row_count integer NOT NULL CHECK (train_row_count > 0),
        validation_row_count integer NOT NULL CHECK (validation_row_count >= 0),
        validation_split_ratio double precision NOT NULL CHECK (validation_split_ratio >= 0 AND validation_split_ratio < 1),
        split_seed integer NOT NULL,
        source text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (project_id, name)
      )`);
    await q.query(`
      CREATE TABLE dataset_rows (
        dataset_id uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        index integer NOT NULL,
        split text NOT NULL CHECK (split IN ('TRAIN', 'VALIDATION')),
        data jsonb NOT NULL,
        PRIMARY KEY (dataset_id, index)
      )`);

    await q.query(`
      CREATE TABLE training_jobs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name text NOT NULL,
        base_model_id uuid NOT NULL REFERENCES base_models (id) ON DELETE RESTRICT,
        dataset_id uuid NOT NULL REFERENCES datasets (id) ON DELETE RESTRICT,
        method text NOT NULL CHECK (method IN ('SFT', 'REWARD_MODEL', 'DPO', 'RL')),
        parameter_scale text NOT NULL CHECK (parameter_scale IN ('FULL', 'LORA', 'PROMPT_TUNING')),
        hyperparameters jsonb NOT NULL,
        checkpoint_every_steps integer NOT NULL CHECK (checkpoint_every_steps > 0),
        status text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        progress double precision NOT NULL DEFAULT 0,
        epoch integer,
        step integer NOT NULL DEFAULT 0,
        total_steps integer,
        latest_loss double precision,
        error text,
        attempts integer NOT NULL DEFAULT 0,
        worker_id text,
        resume_checkpoint_id uuid,
        cancel_requested_at timestamptz(3),
        output_dir text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3)
      )`);
    // History queries: a project's jobs newest first, optionally filtered by status, method or model.
    await q.query(
      `CREATE INDEX training_jobs_history ON training_jobs (project_id, created_at DESC, id DESC)`,
    );
    await q.query(
      `CREATE INDEX training_jobs_by_status ON training_jobs (project_id, status, created_at DESC, id DESC)`,
    );
    await q.query(
      `CREATE INDEX training_jobs_by_method ON training_jobs (project_id, method, created_at DESC, id DESC)`,
    );
    await q.query(
      `CREATE INDEX training_jobs_by_model ON training_jobs (project_id, base_model_id, created_at DESC, id DESC)`,
    );
    await q.query(`CREATE INDEX training_jobs_dataset ON training_jobs (dataset_id)`);

    await q.query(`
      CREATE TABLE training_step_metrics (
        job_id uuid NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
        step integer NOT NULL,
        epoch integer NOT NULL,
        total_steps integer NOT NULL,
        loss double precision NOT NULL,
        learning_rate double precision NOT NULL,
        grad_norm double precision NOT NULL,
        tokens_per_second double precision NOT NULL,
        elapsed_seconds double precision NOT NULL,
        eta_seconds double precision NOT NULL,
        extra jsonb,
        recorded_at timestamptz(3) NOT NULL,
        PRIMARY KEY (job_id, step)
      )`);

    await q.query(`
      CREATE TABLE checkpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        job_id uuid NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
        step integer NOT NULL,
        path text NOT NULL,
        metrics jsonb NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (job_id, step)
      )`);
    await q.query(`
      ALTER TABLE training_jobs ADD CONSTRAINT training_jobs_resume_checkpoint
        FOREIGN KEY (resume_checkpoint_id) REFERENCES checkpoints (id) ON DELETE SET NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE training_jobs DROP CONSTRAINT training_jobs_resume_checkpoint`);
    await q.query(`DROP TABLE checkpoints`);
    await q.query(`DROP TABLE training_step_metrics`);
    await q.query(`DROP TABLE training_jobs`);
    await q.query(`DROP TABLE dataset_rows`);
    await q.query(`DROP TABLE datasets`);
    await q.query(`DROP TABLE base_models`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE projects`);
  }
}
