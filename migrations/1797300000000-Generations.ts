import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Generations (the playground's answers): one prompt answered by a base model or a checkpoint on a worker, with
 * its sampling settings, status (the job state machine of every kind) and, once finished, the whole text. The
 * text streams through Redis while it runs.
 */
export class Generations1797300000000 implements MigrationInterface {
  name = 'Generations1797300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE generations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        base_model_id uuid NOT NULL REFERENCES base_models (id),
        training_job_id uuid REFERENCES training_jobs (id),
        checkpoint_id uuid REFERENCES checkpoints (id),
        model_kind text NOT NULL CHECK (model_kind IN ('BASE', 'FULL', 'LORA', 'PROMPT_TUNING')),
        model_path text NOT NULL,
        adapter_path text,
        prompt text NOT NULL,
        chat_template boolean NOT NULL,
        max_new_tokens integer NOT NULL CHECK (max_new_tokens > 0),
        temperature double precision NOT NULL CHECK (temperature >= 0),
        top_p double precision NOT NULL CHECK (top_p > 0 AND top_p <= 1),
        seed integer NOT NULL,
        execution_provider text NOT NULL,
        status text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        text text,
        prompt_tokens integer,
        generated_tokens integer,
        finish_reason text CHECK (finish_reason IN ('END_OF_SEQUENCE', 'MAX_NEW_TOKENS', 'CANCELLED')),
        error text,
        attempts integer NOT NULL DEFAULT 0,
        worker_id text,
        cancel_requested_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        CHECK ((training_job_id IS NULL) = (checkpoint_id IS NULL)),
        CHECK ((adapter_path IS NULL) = (model_kind IN ('BASE', 'FULL')))
      )`);
    await q.query(`CREATE INDEX generations_history ON generations (project_id, created_at DESC, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE generations`);
  }
}
