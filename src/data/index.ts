/**
 * Datasets, below training and evaluation: JSONL rows (parsing only), tokenized examples, the validation split.
 * Padded micro-batches are the trainer's (src/training/batches.ts).
 */
export * from './rows';
export * from './examples';
export * from './split';
export * from './file';
