/**
 * Registers the enums the schema exposes, with a description for every value. The hyperparameters' enums
 * (LrScheduler, ExecutionProvider) come from their specification (training-jobs/hyperparameters.ts).
 */
import { registerEnumType } from 'type-graphql';
import { METHOD_NAMES, methodWord } from '../../vocabulary';
import { ApiKeyRole, DatasetKind, ParameterScale, JobStatus, TrainingMethod } from '../../db/entities';
import { RESUMABLE_STATUSES } from '../../db/job-status';
import { either } from './job-actions';

registerEnumType(ApiKeyRole, {
  name: 'ApiKeyRole',
  description: 'What an API key may do beyond using its project.',
  valuesConfig: {
    ADMIN: {
      description: 'Also creates and revokes keys; admins of the default project also create projects.',
    },
    MEMBER: { description: 'Uses the project: models, datasets, jobs.' },
  },
});

registerEnumType(DatasetKind, {
  name: 'DatasetKind',
  description: 'The shape of a dataset row; it decides which training methods can use the dataset.',
  valuesConfig: {
    SFT: { description: 'Prompt and response ({"prompt","response"}, alpaca or chat messages); for SFT.' },
    PREFERENCE: { description: 'Prompt with a chosen and a rejected answer; for REWARD_MODEL and DPO.' },
    PROMPT_ONLY: { description: 'Prompts alone ({"prompt"}); for RL.' },
  },
});

registerEnumType(TrainingMethod, {
  name: 'TrainingMethod',
  description: 'How a job trains.',
  valuesConfig: Object.fromEntries(METHOD_NAMES.map((m) => [m, { description: methodWord(m).description }])),
});

registerEnumType(ParameterScale, {
  name: 'ParameterScale',
  description: 'Which parameters a job trains.',
  valuesConfig: {
    FULL: { description: 'Every weight of the model.' },
    LORA: { description: 'Low-rank adapters on chosen linear layers; the base weights stay frozen.' },
    PROMPT_TUNING: {
      description: 'Virtual token embeddings prepended to the input; the base weights stay frozen.',
    },
  },
});

/** What RUNNING, SUCCEEDED and CANCELLED mean for one kind of job; waiting and failing read the same for all. */
type StatusWords = Record<'RUNNING' | 'SUCCEEDED' | 'CANCELLED', string>;

/**
 * Registers `values` (JobStatus, or a copy of it under the schema's name for another kind of job) as that kind's
 * status enum: one status machine for every kind of job, described in the kind's words.
 */
export function registerJobStatus(
  values: typeof JobStatus,
  name: string,
  description: string,
  words: StatusWords,
): void {
  registerEnumType(values, {
    name,
    description,
    valuesConfig: {
      QUEUED: { description: 'Waiting for a worker.' },
      RUNNING: { description: words.RUNNING },
      SUCCEEDED: { description: words.SUCCEEDED },
      FAILED: { description: 'Stopped by an error (see `error`).' },
      CANCELLED: { description: words.CANCELLED },
    },
  });
}

registerJobStatus(
  JobStatus,
  'TrainingJobStatus',
  `Where a job is in its life: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED; ${either(RESUMABLE_STATUSES)} jobs can be resumed (back to QUEUED).`,
  {
    RUNNING: 'A worker is training it.',
    SUCCEEDED: 'Finished every step; the final checkpoint is stored.',
    CANCELLED: 'Stopped on request; the last checkpoint is kept.',
  },
);
