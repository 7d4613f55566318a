import * as path from 'node:path';

/** The PyTorch reference fixtures (read-only), kept in the repository: test/fixtures/hf-tiny. */
export const HF_TINY = path.resolve(__dirname, '../fixtures/hf-tiny');

/** A path inside hf-tiny, e.g. hfTiny('llama-tiny', 'config.json'). */
export const hfTiny = (...parts: string[]): string => path.join(HF_TINY, ...parts);
