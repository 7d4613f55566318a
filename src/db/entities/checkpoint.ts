import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A checkpoint folder a worker wrote (PEFT adapter or HF folder plus trainer state). */
@Entity({ name: 'checkpoints' })
export class CheckpointEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'job_id', type: 'uuid' })
  jobId: string;

  @Column({ type: 'integer' })
  step: number;

  @Column({ type: 'text' })
  path: string;

  @Column({ type: 'jsonb' })
  metrics: Record<string, number>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
