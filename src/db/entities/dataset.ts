import { Column, Entity, PrimaryColumn } from 'typeorm';
import { DatasetKind, DatasetSplit } from './enums';
import { ProjectOwnedEntity } from './project-owned';

/** An imported dataset; its rows live in `dataset_rows` so a worker on any machine can read them. */
@Entity({ name: 'datasets' })
export class DatasetEntity extends ProjectOwnedEntity {
  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  kind: DatasetKind;

  @Column({ name: 'row_count', type: 'integer' })
  rowCount: number;

  @Column({ name: 'train_row_count', type: 'integer' })
  trainRowCount: number;

  @Column({ name: 'validation_row_count', type: 'integer' })
  validationRowCount: number;

  @Column({ name: 'validation_split_ratio', type: 'double precision' })
  validationSplitRatio: number;

  @Column({ name: 'split_seed', type: 'integer' })
  splitSeed: number;

  /** `inline` or the server-side path the rows were read from. */
  @Column({ type: 'text' })
  source: string;
}

/** One normalized dataset row (the JSON object the training data loader accepts), in file order. */
@Entity({ name: 'dataset_rows' })
export class DatasetRowEntity {
  @PrimaryColumn({ name: 'dataset_id', type: 'uuid' })
  datasetId: string;

  /** 0-based position in the imported file (line order, blank lines skipped). */
  @PrimaryColumn({ type: 'integer' })
  index: number;

  @Column({ type: 'text' })
  split: DatasetSplit;

  @Column({ type: 'jsonb' })
  data: unknown;
}
