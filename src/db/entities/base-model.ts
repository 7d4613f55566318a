import { Column, Entity } from 'typeorm';
import type { ModelShape } from '../../training/memory-plan';
import type { Recommendations } from '../../training/hyperparameters';
import { bigintAsNumber } from './columns';
import { ProjectOwnedEntity } from './project-owned';

/** A Hugging Face model folder registered on the server's disk (or a disk every worker mounts at the same path). */
@Entity({ name: 'base_models' })
export class BaseModelEntity extends ProjectOwnedEntity {
  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  path: string;

  /** `architectures[0]` of config.json, e.g. LlamaForCausalLM. */
  @Column({ type: 'text' })
  architecture: string;

  /** `model_type` of config.json, e.g. llama. */
  @Column({ name: 'model_type', type: 'text' })
  modelType: string;

  @Column({ name: 'parameter_count', type: 'bigint', transformer: bigintAsNumber })
  parameterCount: number;

  @Column({ name: 'max_sequence_length', type: 'integer' })
  maxSequenceLength: number;

  @Column({ name: 'vocabulary_size', type: 'integer' })
  vocabularySize: number;

  /** config.json's dimensions, for the memory estimate of jobs (null: registered before they were stored). */
  @Column({ type: 'jsonb', nullable: true })
  shape: ModelShape | null;

  /** The hyperparameter defaults config.json recommends, by parameter scale (null: none, or registered before). */
  @Column({ name: 'recommended_hyperparameters', type: 'jsonb', nullable: true })
  recommendedHyperparameters: Recommendations | null;
}
