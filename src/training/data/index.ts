/** Dataset loading: JSONL rows, tokenized examples, validation split, batches. */
export * from './rows';
