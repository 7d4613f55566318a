/** A JSONL dataset file -> normalized rows; errors name the file as well as the line. */
import * as fs from 'node:fs';
import { UserInputError } from '../errors';
import { DatasetKind, DatasetRow, parseDatasetJsonl } from './rows';

export function readDatasetFile(file: string, kind: DatasetKind): DatasetRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UserInputError(`${file}: cannot read the dataset (${code})`, [file], 'BAD_DATASET');
  }
  let rows: DatasetRow[];
  try {
    rows = parseDatasetJsonl(text, kind);
  } catch (err) {
    if (err instanceof UserInputError)
      throw new UserInputError(`${file}: ${err.message}`, [file, ...err.path], err.code);
    throw err;
  }
  if (rows.length === 0) throw new UserInputError(`${file}: the dataset has no rows`, [file], 'BAD_DATASET');
  return rows;
}
