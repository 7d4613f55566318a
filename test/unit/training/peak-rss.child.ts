/**
 * One LoRA SFT step graph of a random LLaMA-style model in this process, run twice; prints the process's peak RSS
 * (KiB) as JSON. argv: model folder, tokens per sample, MemoryLayout JSON. Run by memory-peak.test.ts, one process
 * per layout, so that each peak is its own.
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
  const batch = randomBatch(1, Number(tokens), model.config.vocabSize, rng);
  // VmHWM: this image's own peak (getrusage's maxRSS carries the spawning process's over fork and exec).
  const hwmKiB = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
  const losses: number[] = [];
  const stepPeaksKiB: number[] = [];
  for (let i = 0; i < 2; i++) {
    losses.push((await trainer.step([batch], 1e-3)).loss);
    stepPeaksKiB.push(hwmKiB());
  }
  await trainer.release();
  process.stdout.write(JSON.stringify({ peakKiB: hwmKiB(), stepPeaksKiB, losses }) + '\n');
}

void main();
