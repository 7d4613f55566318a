/** GraphQL documents and row helpers shared by the evaluation tests. */
import type { DataSource } from 'typeorm';

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
  },
): Promise<{ id: string; checkpoints: string[] }> {
  const [job] = await db.query(
    `INSERT INTO training_jobs (project_id, name, base_model_id, dataset_id, method, parameter_scale,
            hyperparameters, checkpoint_every_steps, status)
     VALUES ($1, 'trained', $2, $3, $4, $5, '{}', 10, $6) RETURNING id`,
    [o.projectId, o.baseModelId, o.datasetId, o.method ?? 'SFT', o.scale ?? 'LORA', o.status ?? 'SUCCEEDED'],
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
