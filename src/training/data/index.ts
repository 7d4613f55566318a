/** Datasets: JSONL rows (parsing only), tokenized examples, the validation split, padded micro-batches. */
export * from './rows';
export * from './examples';
export * from './split';
export * from './batches';
export * from './file';
