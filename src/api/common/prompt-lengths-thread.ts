/**
 * The worker thread behind prompt-fit.ts: it loads a model folder's tokenizer and answers each batch of prompts
 * with their lengths in tokens, encoded as the workers will encode them (`encodePrompt`), beside the API's event
 * loop rather than on it.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { encodePrompt, type PromptOnlyRow, type PromptTemplate } from '../../data';
import { loadModelConfig } from '../../models/config';
import { TextTokenizer } from '../../models/tokenizer';

const { modelDir, template } = workerData as { modelDir: string; template: PromptTemplate };
const tokenizer = TextTokenizer.load(modelDir, loadModelConfig(path.join(modelDir, 'config.json')));
parentPort!.on('message', (rows: PromptOnlyRow[]) => {
  parentPort!.postMessage(rows.map((row) => encodePrompt(row, tokenizer, template).length));
});
