/**
 * Checkpoint folders. Next to the model artifact users load elsewhere (a Hugging Face model folder for a full
 * update, a PEFT adapter folder for LoRA and prompt tuning, see artifacts.ts), a checkpoint holds what resuming
 * needs: `optimizer.safetensors` (Adam moments `<name>.exp_avg` / `<name>.exp_avg_sq`, float32) and
 * `trainer_state.json` (step, loop position with that epoch's data order, RNG state, data fingerprint,
 * hyperparameters, log history). The trainable values themselves are read back from the artifact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LossScalerState } from '../engine/precision';
import { UserInputError } from '../errors';
import { SafetensorsReader, floatTensor, writeSafetensors } from '../models/safetensors';
import { Hyperparameters } from './hyperparameters';
import { LoopPosition } from './loop';
import { RngState } from '../util/rng';
import { HostParamState } from './train-state';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'whetstone-trainer-state';

export interface LogEntry {
  step: number;
  epoch: number;
  loss: number;
  gradNorm: number;
  learningRate: number;
}

export interface TrainerStateFile {
  format: typeof FORMAT;
  version: 1;
  method: string;
  parameterScale: string;
  globalStep: number;
  totalSteps: number;
  position: LoopPosition;
  rng: RngState;
  /** What the run was trained on, so a resume on other data is refused. */
  data: { examples: number; fingerprint: string };
  trainables: string[];
  hyperparameters: Hyperparameters;
  logHistory: LogEntry[];
  /** Mixed-precision runs: the loss scale and its growth tracker (torch's GradScaler state). */
  lossScaler?: LossScalerState;
}

const momentKeys = (name: string) => ({ expAvg: `${name}.exp_avg`, expAvgSq: `${name}.exp_avg_sq` });

/** Write trainer_state.json and optimizer.safetensors into `dir` (which already holds the artifact). */
export function writeResumeState(
  dir: string,
  state: TrainerStateFile,
  params: ReadonlyMap<string, HostParamState>,
): void {
  const tensors: Record<string, ReturnType<typeof floatTensor>> = {};
  for (const [name, p] of params) {
    const k = momentKeys(name);
    tensors[k.expAvg] = floatTensor(p.expAvg, p.shape);
    tensors[k.expAvgSq] = floatTensor(p.expAvgSq, p.shape);
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, OPTIMIZER_FILE), tensors, { format: 'pt', kind: 'adamw-moments' });
  fs.writeFileSync(path.join(dir, TRAINER_STATE_FILE), JSON.stringify(state, null, 1) + '\n');
}

function bad(file: string, what: string): never {
  throw new UserInputError(`${file}: ${what}`, [file], 'BAD_CHECKPOINT');
}

/** trainer_state.json of a checkpoint folder, checked for the fields resuming relies on. */
export function readTrainerState(dir: string): TrainerStateFile {
  const file = path.join(dir, TRAINER_STATE_FILE);
  if (!fs.existsSync(file)) {
    bad(dir, `not a resumable checkpoint: ${TRAINER_STATE_FILE} is missing`);
  }
  let state: TrainerStateFile;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return bad(file, `not valid JSON (${(err as Error).message})`);
  }
  if (state?.format !== FORMAT || state.version !== 1) bad(file, `not a ${FORMAT} version 1 file`);
  const p = state.position;
  if (
    !Number.isInteger(state.globalStep) ||
    !p ||
    !Number.isInteger(p.epoch) ||
    !Number.isInteger(p.microBatch)
  ) {
    bad(file, 'globalStep or position is missing or malformed');
  }
  if (!Array.isArray(state.trainables)) bad(file, 'trainables is missing');
  return state;
}

/** Adam moments of `names` from optimizer.safetensors, shapes checked against `shapes`. */
export function readMoments(
  dir: string,
  shapes: ReadonlyMap<string, readonly number[]>,
): Map<string, { expAvg: Float32Array; expAvgSq: Float32Array }> {
  const file = path.join(dir, OPTIMIZER_FILE);
  if (!fs.existsSync(file)) bad(dir, `not a resumable checkpoint: ${OPTIMIZER_FILE} is missing`);
  const reader = SafetensorsReader.open(file);
  const out = new Map<string, { expAvg: Float32Array; expAvgSq: Float32Array }>();
  for (const [name, shape] of shapes) {
    const k = momentKeys(name);
    for (const key of [k.expAvg, k.expAvgSq]) {
      if (!reader.has(key)) bad(file, `has no tensor "${key}"`);
      const stored = reader.entry(key).shape;
      if (stored.join() !== shape.join()) bad(file, `"${key}" is [${stored}], the model needs [${shape}]`);
    }
    out.set(name, { expAvg: reader.float32(k.expAvg), expAvgSq: reader.float32(k.expAvgSq) });
  }
  return out;
}
