/**
 * Every model family in one table: how its config.json parses (FAMILY_CONFIGS in ../config.ts), its forward
 * pass, the layout of its linear layers, its LoRA defaults and its sequence-classification class. Code that
 * depends on the family asks this table, never `family === '...'`; a new family is one entry here, one in
 * FAMILY_CONFIGS and its name in src/vocabulary.ts.
 */
import type { FamilyName } from '../../vocabulary';
import { FAMILY_CONFIGS, ModelConfig } from '../config';
import { Family } from './family';
import { gpt2Family } from './gpt2';
import { LinearModule, gpt2LayerModules, llamaLayerModules } from './layout';
import { llamaFamily } from './llama';

export interface FamilyEntry {
  /** The decoder stack (embeddings, layers, final norm). */
  forward: Family;
  /** The linear layers of layer `i`, in model order. */
  layerModules(c: ModelConfig, i: number): LinearModule[];
  /** LoRA targets when none are given: PEFT's per-model defaults. */
  loraTargets: readonly string[];
  /** Weights stored (in, out) as GPT-2's Conv1D: PEFT's fan_in_fan_out. */
  fanInFanOut: boolean;
  /** The transformers class of the model with a score head (reward models); null: transformers has none. */
  sequenceClassification: string | null;
}

const llamaLayers = (c: ModelConfig, i: number): LinearModule[] => {
  const { qkv, o, gate, up, down } = llamaLayerModules(c, i);
  return [...qkv, o, gate, up, down];
};

const llamaStyle = (name: FamilyName, loraTargets: readonly string[]): FamilyEntry => ({
  forward: llamaFamily,
  layerModules: llamaLayers,
  loraTargets,
  fanInFanOut: false,
  sequenceClassification: sequenceClassificationOf(name),
});

/** The architecture of FAMILY_CONFIGS with a sequence-classification head, if any. */
function sequenceClassificationOf(name: FamilyName): string | null {
  const found = Object.entries(FAMILY_CONFIGS[name].architectures).find(
    ([, head]) => head === 'sequence_classification',
  );
  return found ? found[0] : null;
}

export const FAMILY_REGISTRY: Record<FamilyName, FamilyEntry> = {
  llama: llamaStyle('llama', ['q_proj', 'v_proj']),
  qwen2: llamaStyle('qwen2', ['q_proj', 'v_proj']),
  // Baichuan fuses q, k and v into one W_pack.
  baichuan: llamaStyle('baichuan', ['W_pack']),
  gpt2: {
    forward: gpt2Family,
    layerModules: (c, i) => Object.values(gpt2LayerModules(c, i)),
    loraTargets: ['c_attn'],
    fanInFanOut: true,
    sequenceClassification: sequenceClassificationOf('gpt2'),
  },
};

export function familyEntry(c: Pick<ModelConfig, 'family'>): FamilyEntry {
  return FAMILY_REGISTRY[c.family];
}

/** Every linear layer below the output head, in model order: what PEFT's 'all-linear' targets. */
export function linearModules(c: ModelConfig): LinearModule[] {
  const out: LinearModule[] = [];
  for (let i = 0; i < c.numLayers; i++) out.push(...familyEntry(c).layerModules(c, i));
  return out;
}
