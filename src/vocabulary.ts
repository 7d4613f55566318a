/**
 * The words every layer shares, spelled once, in the casing the API and the database use (upper case). The
 * TypeScript types, the GraphQL enums (src/db/entities/enums.ts) and the migrations' CHECK lists (a test compares
 * them) derive from these lists. Inside the engine and in its files (configs, trainer_state.json) scales,
 * providers and method names are the lower case of the same words (`EngineName`). This file imports nothing.
 */

export const SCALE_NAMES = ['FULL', 'LORA', 'PROMPT_TUNING'] as const;
export type ScaleName = (typeof SCALE_NAMES)[number];

export const DATASET_KINDS = ['SFT', 'PREFERENCE', 'PROMPT_ONLY'] as const;
export type DatasetKindName = (typeof DATASET_KINDS)[number];

interface MethodWord {
  /** The dataset kind the method trains on. */
  datasetKind: DatasetKindName;
  /** Scales it cannot train with. */
  unsupportedScales?: readonly ScaleName[];
  /** Whether its checkpoints generate text (evaluations answer prompts with them). */
  generates: boolean;
  /** The GraphQL enum value's description. */
  description: string;
}

/** Training methods; src/training/methods.ts registers how each one trains. */
export const METHODS = {
  SFT: {
    datasetKind: 'SFT',
    generates: true,
    description: 'Supervised fine-tuning on prompt/response pairs (SFT dataset).',
  },
  REWARD_MODEL: {
    datasetKind: 'PREFERENCE',
    // Its head scores; it does not generate.
    generates: false,
    // A reward model is a score head on a full or LoRA-adapted model; virtual tokens alone cannot learn a head.
    unsupportedScales: ['PROMPT_TUNING'],
    description: 'A scalar reward head trained on preference pairs (PREFERENCE dataset).',
  },
  DPO: {
    datasetKind: 'PREFERENCE',
    generates: true,
    description: 'Direct preference optimisation (PREFERENCE dataset).',
  },
  RL: {
    datasetKind: 'PROMPT_ONLY',
    generates: true,
    description: 'Reinforcement learning against a reward model (PROMPT_ONLY dataset).',
  },
} as const satisfies Record<string, MethodWord>;
export type MethodName = keyof typeof METHODS;
export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export function methodWord(name: MethodName): MethodWord {
  return METHODS[name];
}

/** The scales a method trains with, in SCALE_NAMES order. */
export function methodScales(name: MethodName): ScaleName[] {
  const unsupported: readonly ScaleName[] = methodWord(name).unsupportedScales ?? [];
  return SCALE_NAMES.filter((s) => !unsupported.includes(s));
}

/** The dataset kind evaluations score: prompts with reference responses. */
export const EVALUATION_DATASET_KIND = 'SFT' satisfies DatasetKindName;

/** ONNX Runtime execution providers a worker or `whetstone` runs on. */
export const PROVIDER_NAMES = ['CPU', 'WEBGPU', 'CUDA'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Model families (config.json `model_type`); src/models/families/registry.ts says what each one is. */
export const FAMILY_NAMES = ['llama', 'qwen2', 'baichuan', 'gpt2'] as const;
export type FamilyName = (typeof FAMILY_NAMES)[number];

export const DATASET_SPLITS = ['TRAIN', 'VALIDATION'] as const;

/** The status of every kind of job (training, evaluation); src/db/job-status.ts has the state machine. */
export const JOB_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

export const API_KEY_ROLES = ['ADMIN', 'MEMBER'] as const;

/** How evaluation scoring splits text into words; src/evaluation/text/segmenters.ts implements each. */
export const SEGMENTER_NAMES = ['JIEBA', 'WHITESPACE', 'CHAR'] as const;
export type SegmenterName = (typeof SEGMENTER_NAMES)[number];

/** What an evaluation ran: the base model, or a checkpoint of one of the scales. */
export const EVALUATED_MODEL_KINDS = ['BASE', ...SCALE_NAMES] as const;

/** A word as the engine and its files spell it ('LORA' -> 'lora'). */
export type EngineName<W extends string> = Lowercase<W>;
export const engineName = <W extends string>(word: W): EngineName<W> => word.toLowerCase() as EngineName<W>;

/** The word of `words` an engine name spells ('lora' -> 'LORA'): the border back from the engine's casing. */
export function wordOf<const W extends string>(words: readonly W[], name: EngineName<W>): W {
  const word = words.find((w) => engineName(w) === name);
  if (word === undefined) throw new Error(`${name} is none of ${words.join(', ')}`);
  return word;
}

/** A parameter scale as the engine spells it ('lora'). */
export type EngineScale = EngineName<ScaleName>;

/** A const object {WORD: 'WORD'} of a list, usable like a string enum (`TrainingMethod.SFT`). */
export function wordsOf<const W extends string>(words: readonly W[]): { readonly [K in W]: K } {
  return Object.fromEntries(words.map((w) => [w, w])) as { [K in W]: K };
}
