import { Column, CreateDateColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The columns of everything a project owns (API keys, models, datasets, jobs): a generated id, the project, and
 * when it was created. The API finds such a row only within the caller's project (src/api/common/ids.ts).
 */
export abstract class ProjectOwnedEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
