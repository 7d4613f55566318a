/**
 * One generation (the worker's Generator, KV cache, greedy, no early stop) of random prompts in this process;
 * prints the process's peak RSS (KiB) as JSON. argv: model folder, batch, prompt tokens, new tokens, the
 * Generator's halfWeights, the rank of a random LoRA on every linear layer (0: none); or `write`, a folder and DemoModelOptions JSON to write a random model (here: faster
 * than in jest). Run by generation-memory.test.ts, one process per measurement, so that each peak is its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../../../src/models/demo';
import { loadModel, resolveAdapter } from '../../../src/models/model';
import { Generator, type HalfWeights } from '../../../src/models/generate';
import { Rng } from '../../../src/util/rng';

const field = (file: string, name: string) =>
  Number(new RegExp(`${name}:\\s+(\\d+)`).exec(fs.readFileSync(file, 'utf8'))![1]);
const vmHwmKiB = () => field('/proc/self/status', 'VmHWM');
/**
 * Resident pages of the checkpoint file counted more than once: each session maps the file itself, RSS counts every
 * mapping, memory holds one copy (the page cache; Pss splits each page between its mappings).
 */
function doubleCountedKiB(file: string): number {
  let rss = 0;
  let pss = 0;
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(file);
    else if (inFile && line.startsWith('Rss:')) rss += Number(line.split(/\s+/)[1]);
    else if (inFile && line.startsWith('Pss:')) pss += Number(line.split(/\s+/)[1]);
  }
  return rss - pss;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'write') return writeDemoModel(process.argv[3], JSON.parse(process.argv[4]));
  const [dir, batch, promptTokens, newTokens, halfWeights, loraRank] = process.argv.slice(2);
  const model = await loadModel(dir);
  const rng = Rng.fromSeed(0);
  const prompts = Array.from({ length: Number(batch) }, () =>
    Array.from({ length: Number(promptTokens) }, () => 3 + rng.int(model.config.vocabSize - 3)),
  );
  const lora = { kind: 'lora', r: Number(loraRank), alpha: 16, dropout: 0, targets: 'all-linear' } as const;
  const adapter = lora.r ? resolveAdapter(model, lora, () => rng.next()) : undefined;
  const loadedKiB = vmHwmKiB();
  const generator = new Generator(model, { halfWeights: halfWeights as HalfWeights, adapter });
  let shared = 0;
  const result = await generator.generate({
    prompts,
    maxNewTokens: Number(newTokens),
    eosTokenIds: [],
    onStep: () => void (shared = Math.max(shared, doubleCountedKiB(path.resolve(dir, 'model.safetensors')))),
  });
  await generator.release();
  process.stdout.write(
    JSON.stringify({
      peakKiB: vmHwmKiB() - shared,
      vmHwmKiB: vmHwmKiB(),
      loadedKiB,
      generated: result.generated[0].length,
    }) + '\n',
  );
}

void main();
