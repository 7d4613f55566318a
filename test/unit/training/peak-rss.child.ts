/**
 * LoRA SFT steps of a random LLaMA-style model in this process: two of one length, or one of each length listed
 * (a batch shape, so a session, each); prints the process's peak RSS (KiB) as JSON, also after each step. argv:
 * model folder, tokens per sample ("512" or "64,80,96"), MemoryLayout JSON. Run by memory-peak.test.ts, one
 * process per case, so that each peak is its own.
 */
import * as fs from 'node:fs';
import { loadModel } from '../../../src/models/model';
import { MemoryLayout } from '../../../src/models/memory-layout';
import { parseHyperparameters } from '../../../src/training/hyperparameters';
import { parameterize } from '../../../src/training/parameterization';
import { Rng } from '../../../src/util/rng';
import { SftObjective } from '../../../src/training/sft';
import { TrainState } from '../../../src/training/train-state';
import { Trainer } from '../../../src/training/trainer';
import { randomBatch } from '../../../bench/bench-model';

async function main(): Promise<void> {
  const [dir, tokens, layoutJson] = process.argv.slice(2);
  const memoryLayout = JSON.parse(layoutJson) as MemoryLayout;
  const model = await loadModel(dir);
  const rng = Rng.fromSeed(0);
  const params = parameterize(model, {
    scale: 'lora',
    hyperparameters: parseHyperparameters({ loraRank: 8, loraTargets: ['q_proj', 'v_proj'] }),
    adapterDir: null,
    rng,
  });
  const trainer = new Trainer(
    new SftObjective(params.forward, params.initial),
    TrainState.initial(params.initial),
    {
      adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      maxGradNorm: 1,
      weightDecayAll: false,
      threads: 1,
      random: () => rng.next(),
      memoryLayout,
    },
  );
  const lengths = tokens.split(',').map(Number);
  const batches = lengths.map((t) => randomBatch(1, t, model.config.vocabSize, rng));
  if (batches.length === 1) batches.push(batches[0]);
  // VmHWM: this image's own peak (getrusage's maxRSS carries the spawning process's over fork and exec).
  const hwmKiB = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
  const losses: number[] = [];
  const stepPeaksKiB: number[] = [];
  for (const batch of batches) {
    losses.push((await trainer.step([batch], 1e-3)).loss);
    stepPeaksKiB.push(hwmKiB());
  }
  await trainer.release();
  process.stdout.write(JSON.stringify({ peakKiB: hwmKiB(), stepPeaksKiB, losses }) + '\n');
}

void main();
