import { MigrationInterface, QueryRunner } from 'typeorm';

/** The score columns of a job (null until it has results) and of a sample (always set). */
const SCORE_COLUMNS = [
  'accuracy',
  'f1',
  'rouge1_precision',
  'rouge1_recall',
  'rouge1_f',
  'rouge2_precision',
  'rouge2_recall',
  'rouge2_f',
  'rouge_l_precision',
  'rouge_l_recall',
  'rouge_l_f',
  'bleu4',
];

const scores = (required: boolean) =>
  SCORE_COLUMNS.map(
    (c) =>
      `${c} double precision ${required ? 'NOT NULL ' : ''}CHECK (${c} IS NULL OR (${c} >= 0 AND ${c} <= 1))`,
  ).join(',\n        ');

/**
 * Evaluation jobs with their aggregate scores, and the scored samples of each.
 *
 * Indexes follow the analysts' queries: a project's evaluations newest first, optionally by base model, training
 * job or dataset (the filters of evaluationResults; "best per model on a dataset" reads the dataset's rows and
 * ranks the few there are); the samples of one evaluation ordered by any metric (worst first), one index per
 * metric, so a page of the worst samples of a large evaluation reads only that page.
 */
export class Evaluations1795800000000 implements MigrationInterface {
  name = 'Evaluations1795800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE evaluation_jobs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name text NOT NULL,
        base_model_id uuid NOT NULL REFERENCES base_models (id),
        training_job_id uuid REFERENCES training_jobs (id),
        checkpoint_id uuid REFERENCES checkpoints (id),
        model_kind text NOT NULL CHECK (model_kind IN ('BASE', 'FULL', 'LORA', 'PROMPT_TUNING')),
        model_path text NOT NULL,
        adapter_path text,
        dataset_id uuid NOT NULL REFERENCES datasets (id),
        dataset_split text CHECK (dataset_split IN ('TRAIN', 'VALIDATION')),
        max_new_tokens integer NOT NULL CHECK (max_new_tokens > 0),
        temperature double precision NOT NULL CHECK (temperature >= 0),
        top_p double precision NOT NULL CHECK (top_p > 0 AND top_p <= 1),
        seed integer NOT NULL,
        batch_size integer NOT NULL CHECK (batch_size > 0),
        segmenter text NOT NULL CHECK (segmenter IN ('JIEBA', 'WHITESPACE', 'CHAR')),
        stopwords text NOT NULL CHECK (stopwords IN ('DEFAULT', 'NONE', 'CUSTOM')),
        custom_stopwords text[],
        execution_provider text NOT NULL,
        status text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        samples_done integer NOT NULL DEFAULT 0,
        samples_total integer,
        skipped_rows integer NOT NULL DEFAULT 0,
        error text,
        attempts integer NOT NULL DEFAULT 0,
        worker_id text,
        cancel_requested_at timestamptz(3),
        ${scores(false)},
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        CHECK ((training_job_id IS NULL) = (checkpoint_id IS NULL)),
        CHECK ((adapter_path IS NULL) = (model_kind IN ('BASE', 'FULL')))
      )`);
    await q.query(
      `CREATE INDEX evaluation_jobs_history ON evaluation_jobs (project_id, created_at DESC, id DESC)`,
    );
    await q.query(
      `CREATE INDEX evaluation_jobs_by_model ON evaluation_jobs (project_id, base_model_id, created_at DESC, id DESC)`,
    );
    await q.query(
      `CREATE INDEX evaluation_jobs_by_training_job ON evaluation_jobs
         (project_id, training_job_id, created_at DESC, id DESC) WHERE training_job_id IS NOT NULL`,
    );
    await q.query(
      `CREATE INDEX evaluation_jobs_by_dataset ON evaluation_jobs (project_id, dataset_id, created_at DESC, id DESC)`,
    );

    await q.query(`
      CREATE TABLE evaluation_samples (
        evaluation_id uuid NOT NULL REFERENCES evaluation_jobs (id) ON DELETE CASCADE,
        index integer NOT NULL,
        prompt text NOT NULL,
        reference text NOT NULL,
        prediction text NOT NULL,
        ${scores(true)},
        PRIMARY KEY (evaluation_id, index)
      )`);
    for (const c of SCORE_COLUMNS) {
      await q.query(
        `CREATE INDEX evaluation_samples_by_${c} ON evaluation_samples (evaluation_id, ${c}, index)`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE evaluation_samples`);
    await q.query(`DROP TABLE evaluation_jobs`);
  }
}
