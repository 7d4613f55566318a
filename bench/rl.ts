/**
 * `npm run bench:rl`: one RL iteration on the LLaMA-style bench model (hidden 256, 4 layers, 4 heads, intermediate
 * 688, vocabulary 8192; random weights) with a reward model of the same shape (random weights and score head):
 * 8 prompts of 32 random tokens, 4 completions each (32 sequences), 64 new tokens sampled with the KV cache
 * (temperature 1, top-p 1, no early stop), one optimizer step (rlEpochs 1), 2 threads. Full update and LoRA r 8 on
 * q/v. A warm-up iteration builds the sessions; the timed iteration that follows is split into generation, reward
 * scoring, old and reference log-probabilities, and the update. Generation is further split into building the
 * generator's sessions on the iteration's weights and decoding (the same request again on those sessions).
 * `--ep webgpu|cuda` picks the execution provider. The last line is one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ExecutionProvider } from '../src/engine/session';
import { writeDemoModel } from '../src/models/demo';
import { Generator } from '../src/models/generate';
import { sampleToken } from '../src/models/sampling';
import { loadModel } from '../src/models/model';
import { RewardScorer } from '../src/training/alignment/reward-scorer';
import { RlObjective } from '../src/training/alignment/rl/rl-objective';
import { RlSettings, RlTimings, RlTrainer } from '../src/training/alignment/rl/rl-trainer';
import { rewardModelRewards } from '../src/training/alignment/rl/rewards';
import { runPeer } from './peer';
import { withScoreHead } from '../src/training/alignment/score-head';
import { parseHyperparameters } from '../src/training/hyperparameters';
import { parameterize } from '../src/training/parameterization';
import { trainedModel } from '../src/training/validation';
import { Rng } from '../src/util/rng';
import { BENCH_MODEL } from './bench-model';

const MODEL = { ...BENCH_MODEL, maxPositionEmbeddings: 1024 };
const PROMPTS = 8;
const PROMPT_LENGTH = 32;
const SETTINGS: RlSettings = {
  numGenerations: 4,
  maxNewTokens: 64,
  temperature: 1,
  topP: 1,
  rlEpochs: 1,
  microBatches: 1,
};

interface ModeResult {
  timings: RlTimings;
  /** The same generation request on sessions already built (decoding alone). */
  generationWarmSessionsSeconds: number;
  /** Decoding speed on warm sessions: generated tokens / s. */
  generatedTokensPerSecond: number;
  /** Host-side sampling (softmax, top-p sort, draw over the vocabulary) of all rows and steps, measured apart. */
  samplingHostSeconds: number;
  iterationSeconds: number;
  completionLength: number;
  peer: Record<string, unknown> | null;
}

async function benchMode(
  mode: 'full' | 'lora',
  dirs: { policy: string; reward: string },
  ep: ExecutionProvider,
  threads: number,
): Promise<ModeResult> {
  const model = await loadModel(dirs.policy);
  const rng = Rng.fromSeed(0);
  const hp = parseHyperparameters({ loraRank: 8, loraAlpha: 16, loraTargets: ['q_proj', 'v_proj'] });
  const params = parameterize(model, { scale: mode, hyperparameters: hp, adapterDir: null, rng });
  const scorer = new RewardScorer(
    withScoreHead(await loadModel(dirs.reward), () => rng.next()),
    {
      executionProvider: ep,
      threads,
    },
  );
  // A random model may sample EOS early; the bench decodes every row to maxNewTokens.
  const rewards = rewardModelRewards(scorer, model.tokenizer);
  const rl = new RlTrainer(
    model,
    params,
    new RlObjective(params.forward, params.initial, { clipEpsilon: 0.2, klCoef: 0.04 }),
    rewards,
    SETTINGS,
    {
      adamW: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      maxGradNorm: 1,
      weightDecayAll: false,
      executionProvider: ep,
      threads,
      random: () => rng.next(),
    },
  );
  const prompts = Array.from({ length: PROMPTS }, () => [
    1,
    ...Array.from({ length: PROMPT_LENGTH - 1 }, () => 3 + rng.int(MODEL.vocabSize - 3)),
  ]);
  try {
    await rl.iteration(prompts, 1e-5, 1); // warm-up: every session built once
    const start = performance.now();
    const it = await rl.iteration(prompts, 1e-5, 2);
    const iterationSeconds = (performance.now() - start) / 1000;

    // The generation of an iteration again, split: sessions on a fresh snapshot, then decoding on them.
    const snapshot = trainedModel(model, params, await rl.state.valuesToHost());
    const gen = new Generator(snapshot.model, { adapter: snapshot.adapter, executionProvider: ep, threads });
    const req = {
      prompts: prompts.flatMap((p) => Array.from({ length: SETTINGS.numGenerations }, () => p)),
      maxNewTokens: SETTINGS.maxNewTokens,
      sampling: { temperature: 1, topP: 1, seed: 3 },
      eosTokenIds: [],
    };
    await gen.generate(req);
    let t0 = performance.now();
    await gen.generate(req);
    const warm = (performance.now() - t0) / 1000;
    await gen.release();
    const rows = PROMPTS * SETTINGS.numGenerations;
    const logits = Float32Array.from({ length: rows * MODEL.vocabSize }, () => rng.next());
    t0 = performance.now();
    for (let k = 0; k < SETTINGS.maxNewTokens; k++) {
      for (let b = 0; b < rows; b++)
        sampleToken(logits, b * MODEL.vocabSize, MODEL.vocabSize, SETTINGS, () => rng.next());
    }
    const sampling = (performance.now() - t0) / 1000;
    const peer = runPeer(path.resolve(process.cwd(), 'bench/peers/torch_rl.py'), [
      dirs.policy,
      dirs.reward,
      '--mode',
      mode,
      '--prompts',
      String(PROMPTS),
      '--prompt-length',
      String(PROMPT_LENGTH),
      '--generations',
      String(SETTINGS.numGenerations),
      '--new-tokens',
      String(SETTINGS.maxNewTokens),
      '--threads',
      String(threads),
      '--vocab',
      String(MODEL.vocabSize),
    ]);
    return {
      timings: it.timings,
      generationWarmSessionsSeconds: warm,
      generatedTokensPerSecond: (rows * SETTINGS.maxNewTokens) / warm,
      samplingHostSeconds: sampling,
      iterationSeconds,
      completionLength: it.completionLength,
      peer,
    };
  } finally {
    await rl.release();
    await scorer.release();
  }
}

const fmt = (s: number) => `${(s * 1000).toFixed(0).padStart(7)} ms`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { ep: { type: 'string', default: 'cpu' }, threads: { type: 'string', default: '2' } },
  });
  const ep = values.ep as ExecutionProvider;
  const threads = Number(values.threads);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'whetstone-bench-rl-'));
  const dirs = { policy: path.join(root, 'policy'), reward: path.join(root, 'reward') };
  try {
    writeDemoModel(dirs.policy, { ...MODEL, seed: 0 });
    writeDemoModel(dirs.reward, { ...MODEL, seed: 1000 });
    const results: Record<string, ModeResult> = {};
    for (const mode of ['full', 'lora'] as const) {
      const r = await benchMode(mode, dirs, ep, threads);
      results[mode] = r;
      const t = r.timings;
      const line = (who: string, total: number, x: RlTimings) =>
        console.log(
          `${mode.padEnd(4)} ${who.padEnd(5)} iteration ${fmt(total)} | generation ${fmt(x.generation)} | rewards ` +
            `${fmt(x.rewards)} | old log-probs ${fmt(x.oldLogProbs)} | reference log-probs ` +
            `${fmt(x.referenceLogProbs)} | update ${fmt(x.update)}`,
        );
      line('ours', r.iterationSeconds, t);
      if (r.peer) line('torch', r.peer.iterationSeconds as number, r.peer.timings as RlTimings);
      console.log(
        `${mode.padEnd(4)} ours  generation on warm sessions ${fmt(r.generationWarmSessionsSeconds)} ` +
          `(${r.generatedTokensPerSecond.toFixed(0)} tok/s), of which host sampling ~${fmt(r.samplingHostSeconds)}`,
      );
    }
    console.log(
      JSON.stringify({
        ep,
        threads,
        prompts: PROMPTS,
        promptLength: PROMPT_LENGTH,
        ...SETTINGS,
        ...results,
      }),
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
