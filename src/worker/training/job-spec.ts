/** Reads what one run of a job needs from PostgreSQL (any worker on any machine can) into the engine's spec. */
import path from 'node:path';
import type { EntityManager } from 'typeorm';
import { jobsDir } from '../../config';
import {
  BaseModelEntity,
  CheckpointEntity,
  DatasetEntity,
  DatasetSplit,
  TrainingJobEntity,
} from '../../db/entities';
import { splitStored } from '../../training/hyperparameters';
import { engineName } from '../../vocabulary';
import type { TrainingRunSpec } from '../../training/run-job';

export function jobOutputDir(dataDir: string, jobId: string): string {
  return path.join(jobsDir(dataDir), jobId);
}

export interface RunPlan {
  spec: TrainingRunSpec;
  /** Step of the checkpoint the run continues from (0: from scratch). */
  startStep: number;
}

export async function planRun(
  db: EntityManager,
  job: TrainingJobEntity,
  outputDir: string,
): Promise<RunPlan> {
  const model = await db.getRepository(BaseModelEntity).findOneByOrFail({ id: job.baseModelId });
  const dataset = await db.getRepository(DatasetEntity).findOneByOrFail({ id: job.datasetId });
  const rows: { split: DatasetSplit; data: unknown }[] = await db.query(
    `SELECT split, data FROM dataset_rows WHERE dataset_id = $1 ORDER BY index`,
    [dataset.id],
  );
  const part = (split: DatasetSplit) => rows.filter((r) => r.split === split).map((r) => r.data);
  const checkpoint = job.resumeCheckpointId
    ? await db.getRepository(CheckpointEntity).findOneBy({ id: job.resumeCheckpointId })
    : null;
  const { hyperparameters, executionProvider } = splitStored(job.hyperparameters);
  const rewardModelPath = job.rewardModelJobId ? await finalCheckpointPath(db, job.rewardModelJobId) : null;
  return {
    spec: {
      jobId: job.id,
      method: job.method,
      parameterScale: job.parameterScale,
      modelPath: model.path,
      // The validation split serves evaluation during training (when the hyperparameters ask for it).
      dataset: {
        kind: dataset.kind,
        rows: part(DatasetSplit.TRAIN),
        validationRows: part(DatasetSplit.VALIDATION),
      },
      hyperparameters,
      outputDir,
      ...(checkpoint ? { resumeFrom: checkpoint.path } : {}),
      executionProvider: engineName(executionProvider),
      ...(rewardModelPath ? { rewardModelPath } : {}),
    },
    startStep: checkpoint?.step ?? 0,
  };
}

/** The checkpoint a finished job ended with: its latest. */
async function finalCheckpointPath(db: EntityManager, jobId: string): Promise<string> {
  const latest = await db
    .getRepository(CheckpointEntity)
    .findOne({ where: { jobId }, order: { step: 'DESC' } });
  if (!latest) throw new Error(`reward model job ${jobId} has no checkpoint`);
  return latest.path;
}
