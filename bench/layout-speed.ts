/**
 * `npx tsx bench/layout-speed.ts [steps]`: CPU step time of the bench model (bench:train's settings: batch 8 x 128,
 * 2 threads, LoRA r 8 on q/v) under each `joinProjections` mode, full update and LoRA. The modes' trainers run
 * in turns, one step each per round, so a load beside them slows them alike; each mode's median step (wall and
 * process CPU time, which a load beside it disturbs less) is printed,
 * then one JSON object. Light enough to run beside other work (a few steps, no peer).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Graph } from '../src/engine/graph';
import { ADAMW_DEFAULTS } from '../src/engine/optim';
import { writeDemoModel } from '../src/models/demo';
import { loadModel } from '../src/models/model';
import { SftObjective } from '../src/training/sft';
import { TrainState } from '../src/training/train-state';
import { Trainer } from '../src/training/trainer';
import { Rng } from '../src/util/rng';
import { BENCH_MODEL, benchParameters, randomBatch } from './bench-model';

const MODES: Graph['joinProjections'][] = ['off', 'free', 'graph'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 6);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-layout-'));
  const result: Record<string, Record<string, number>> = {};
  try {
    writeDemoModel(dir, { ...BENCH_MODEL, seed: 0 });
    const model = await loadModel(dir);
    for (const scale of ['full', 'lora'] as const) {
      const rng = Rng.fromSeed(0);
      const batch = randomBatch(8, 128, BENCH_MODEL.vocabSize, rng);
      const trainers = MODES.map((joinProjections) => {
        const params = benchParameters(model, scale, Rng.fromSeed(0));
        return new Trainer(
          new SftObjective(params.forward, params.initial),
          TrainState.initial(params.initial),
          {
            adamW: ADAMW_DEFAULTS,
            maxGradNorm: 1,
            weightDecayAll: true,
            threads: 2,
            random: () => rng.next(),
            joinProjections,
          },
        );
      });
      for (const t of trainers) await t.step([batch], 1e-3); // compile + warm-up
      const wall: number[][] = MODES.map(() => []);
      const cpu: number[][] = MODES.map(() => []);
      for (let i = 0; i < steps; i++) {
        for (const [m, t] of trainers.entries()) {
          const [start, used] = [performance.now(), process.cpuUsage()];
          await t.step([batch], 1e-3);
          wall[m].push(performance.now() - start);
          const { user, system } = process.cpuUsage(used);
          cpu[m].push((user + system) / 1000);
        }
      }
      for (const [kind, times] of [
        ['wall', wall],
        ['cpu', cpu],
      ] as const) {
        result[`${scale} ${kind}`] = Object.fromEntries(
          MODES.map((m, i) => [m, Math.round(median(times[i]))]),
        );
        console.log(`${scale}: median step ms (${kind} time) ${JSON.stringify(result[`${scale} ${kind}`])}`);
      }
      for (const t of trainers) await t.release();
    }
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
