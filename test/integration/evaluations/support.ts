/** GraphQL documents and row helpers shared by the evaluation tests. */
import type { DataSource } from 'typeorm';
import { FLAT_SCORE_NAMES } from '../../../src/evaluation/metrics';

export const SCORES = `accuracy f1 rouge1 { precision recall f } rouge2 { precision recall f }
  rougeL { precision recall f } bleu4`;

export const EVALUATION_FIELDS = `id name status modelKind datasetSplit maxNewTokens temperature topP seed batchSize
  segmenter stopwords customStopwords executionProvider samplesDone samplesTotal skippedRows progress error attempts
  cancelRequested baseModel { id } trainingJob { id } checkpoint { id step } dataset { id } results { ${SCORES} }`;

export const CREATE_EVALUATION = `mutation($input: CreateEvaluationJobInput!) {
  createEvaluationJob(input: $input) { ${EVALUATION_FIELDS} }
}`;

export const EVALUATION = `query($id: ID!) { evaluationJob(id: $id) { ${EVALUATION_FIELDS} } }`;

export const EVALUATION_PROGRESS = `subscription($id: ID!) {
  evaluationJobProgress(jobId: $id) { kind jobId status samplesDone samplesTotal progress error results { ${SCORES} } }
}`;

export interface ProgressEvent {
  kind: 'SNAPSHOT' | 'SAMPLES' | 'STATUS';
  status: string;
  samplesDone: number;
  samplesTotal: number | null;
  progress: number;
  error: string | null;
  results: Record<string, unknown> | null;
}

/** A training job row of `projectId` on the given model and dataset, with checkpoints at the given steps. */
export async function insertTrainingJob(
  db: DataSource,
  o: {
    projectId: string;
    baseModelId: string;
    datasetId: string;
    method?: string;
    scale?: string;
    status?: string;
    checkpoints?: { step: number; path: string }[];
    hyperparameters?: Record<string, unknown>;
  },
): Promise<{ id: string; checkpoints: string[] }> {
  const [job] = await db.query(
    `INSERT INTO training_jobs (project_id, name, base_model_id, dataset_id, method, parameter_scale,
            hyperparameters, status)
     VALUES ($1, 'trained', $2, $3, $4, $5, $6, $7) RETURNING id`,
    [
      o.projectId,
      o.baseModelId,
      o.datasetId,
      o.method ?? 'SFT',
      o.scale ?? 'LORA',
      JSON.stringify(o.hyperparameters ?? {}),
      o.status ?? 'SUCCEEDED',
    ],
  );
  const checkpoints: string[] = [];
  for (const c of o.checkpoints ?? []) {
    const [row] = await db.query(
      `INSERT INTO checkpoints (job_id, step, path, metrics) VALUES ($1, $2, $3, '{}') RETURNING id`,
      [job.id, c.step, c.path],
    );
    checkpoints.push(row.id);
  }
  return { id: job.id, checkpoints };
}

/**
 * Every metric column set from one number `v`: BLEU-4 gets 1 - v and every other metric v, so ordering by BLEU-4
 * reverses ordering by any other metric.
 */
const metricValues = (v: number) => FLAT_SCORE_NAMES.map((c) => (c === 'bleu4' ? 1 - v : v));

/** An evaluation row as a worker leaves it; `v` null: no results (not SUCCEEDED). */
export async function insertEvaluation(
  db: DataSource,
  o: {
    projectId: string;
    baseModelId: string;
    datasetId: string;
    trainingJobId?: string;
    checkpointId?: string;
    status?: string;
    v: number | null;
    createdAt: Date;
  },
): Promise<string> {
  const adapter = o.checkpointId ? '/ckpt' : null;
  const [row] = await db.query(
    `INSERT INTO evaluation_jobs (project_id, name, base_model_id, training_job_id, checkpoint_id, model_kind,
            model_path, adapter_path, dataset_id, max_new_tokens, temperature, top_p, seed, batch_size, segmenter,
            stopwords, execution_provider, status, samples_done, samples_total, created_at, ${FLAT_SCORE_NAMES.join(', ')})
     VALUES ($1, 'e', $2, $3, $4, $5, '/model', $6, $7, 16, 0, 1, 0, 8, 'JIEBA', 'DEFAULT', 'CPU', $8, 0, 0, $9,
            ${FLAT_SCORE_NAMES.map((_, i) => `$${i + 10}`).join(', ')})
     RETURNING id`,
    [
      o.projectId,
      o.baseModelId,
      o.trainingJobId ?? null,
      o.checkpointId ?? null,
      o.checkpointId ? 'LORA' : 'BASE',
      adapter,
      o.datasetId,
      o.status ?? (o.v === null ? 'RUNNING' : 'SUCCEEDED'),
      o.createdAt,
      ...(o.v === null ? FLAT_SCORE_NAMES.map(() => null) : metricValues(o.v)),
    ],
  );
  return row.id;
}

/** Samples of an evaluation: one per value, at row indices 0.., every metric set from the value as above. */
export async function insertSamples(db: DataSource, evaluationId: string, values: number[]): Promise<void> {
  for (const [index, v] of values.entries()) {
    await db.query(
      `INSERT INTO evaluation_samples (evaluation_id, index, prompt, reference, prediction, ${FLAT_SCORE_NAMES.join(', ')})
       VALUES ($1, $2, $3, $4, $5, ${FLAT_SCORE_NAMES.map((_, i) => `$${i + 6}`).join(', ')})`,
      [
        evaluationId,
        index,
        `prompt ${index}`,
        `reference ${index}`,
        `${evaluationId}:${index}`,
        ...metricValues(v),
      ],
    );
  }
}
