/**
 * LoRA with PEFT's semantics: a targeted linear layer computes base(x) + B(A(dropout(x))) * alpha / r, with
 * A (r, in) and B (out, r) keyed `base_model.model.<module path>.lora_A.weight` / `lora_B.weight`. GPT-2's Conv1D
 * layers (fan_in_fan_out) use the same A and B; only their base weight is stored (in, out).
 */
import { Tensor } from '../engine/graph';
import * as op from '../engine/ops';
import { UserInputError } from '../errors';
import { ModelConfig } from './config';
import { LinearModule } from './families/layout';
import { familyEntry, linearModules } from './families/registry';
import { LoraSpec, MemoryWeights, WeightStore, WeightTensor } from './model';

export const PEFT_PREFIX = 'base_model.model.';

export const loraKey = (modulePath: string, which: 'A' | 'B'): string =>
  `${PEFT_PREFIX}${modulePath}.lora_${which}.weight`;

export const loraScale = (spec: LoraSpec): number => spec.alpha / spec.r;

/** PEFT's rule for a list of targets: the module name itself, or the path ends with `.<target>`. */
export function matchesTarget(modulePath: string, targets: readonly string[]): boolean {
  return targets.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
}

/**
 * The LoRA spec's targets as adapter_config.json stores them: as given, the family's default when absent, and for
 * 'all-linear' the module paths of every linear layer below the head (PEFT 0.21 writes full paths there).
 */
export function resolveLoraTargets(c: ModelConfig, targets: LoraSpec['targets'] | undefined): string[] {
  if (targets === undefined) return [...familyEntry(c).loraTargets];
  if (targets === 'all-linear') return linearModules(c).map((m) => m.path);
  return [...targets];
}

/** The layers LoRA adapts; none matching is an error, as in PEFT. */
export function loraModules(c: ModelConfig, spec: Pick<LoraSpec, 'targets'>): LinearModule[] {
  const names = resolveLoraTargets(c, spec.targets);
  const chosen = linearModules(c).filter((m) => matchesTarget(m.path, names));
  if (chosen.length === 0) {
    const available = [...new Set(linearModules(c).map((m) => m.path.split('.').pop()))].join(', ');
    throw new UserInputError(
      `LoRA targets ${names.join(', ')} match no layer of this ${c.family} model (its linear layers: ${available})`,
      ['loraTargets'],
      'BAD_LORA_TARGETS',
    );
  }
  return chosen;
}

/**
 * Fresh adapter weights as PEFT initializes them (init_lora_weights=True): A ~ kaiming_uniform(a=sqrt(5)), i.e.
 * U(-1/sqrt(in), 1/sqrt(in)); B = 0, so the adapted model starts equal to the base.
 */
export function initLoraWeights(c: ModelConfig, spec: LoraSpec, random: () => number): MemoryWeights {
  const out = new MemoryWeights();
  for (const m of loraModules(c, spec)) {
    const bound = 1 / Math.sqrt(m.inFeatures);
    const a = new Float32Array(spec.r * m.inFeatures).map(() => (2 * random() - 1) * bound);
    out.tensors.set(loraKey(m.path, 'A'), { data: a, shape: [spec.r, m.inFeatures], dtype: 'float32' });
    out.tensors.set(loraKey(m.path, 'B'), {
      data: new Float32Array(m.outFeatures * spec.r),
      shape: [m.outFeatures, spec.r],
      dtype: 'float32',
    });
  }
  return out;
}

/** Check that an adapter's tensors are exactly the ones this model and spec need, with the right shapes. */
export function checkLoraWeights(c: ModelConfig, spec: LoraSpec, weights: WeightStore, where: string): void {
  const expected = new Map<string, number[]>();
  for (const m of loraModules(c, spec)) {
    expected.set(loraKey(m.path, 'A'), [spec.r, m.inFeatures]);
    expected.set(loraKey(m.path, 'B'), [m.outFeatures, spec.r]);
  }
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    if (!weights.has(name)) problems.push(`missing ${name}`);
    else if (weights.shape(name).join() !== shape.join())
      problems.push(`${name} has shape [${weights.shape(name).join(', ')}], expected [${shape.join(', ')}]`);
  }
  const extra = weights.names().filter((n) => !expected.has(n));
  if (extra.length)
    problems.push(`unexpected tensors ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
  if (problems.length) {
    throw new UserInputError(
      `${where}: the LoRA adapter does not fit the model: ${problems.join('; ')}`,
      [where],
      'BAD_ADAPTER',
    );
  }
}

/**
 * y = base + B(A(x * keep)) * scale for x (..., in): two thin Gemms (rank r), never materializing B A.
 * `keep` is the inverted-dropout mask (x's shape) or absent.
 */
export function loraDelta(x: Tensor, a: Tensor, b: Tensor, scale: number, keep?: Tensor): Tensor {
  const [r, inF] = a.shape;
  const out = b.shape[0];
  const flat = op.reshape(keep ? op.mul(x, keep) : x, [-1, inF]); // (N, in)
  const low = op.gemm(flat, a, undefined, { transB: true }); // (N, r)
  const delta = op.gemm(low, b, undefined, { transB: true, alpha: scale }); // (N, out)
  if (r !== b.shape[1]) throw new Error(`LoRA: A ${a} and B ${b} disagree on the rank`);
  return op.reshape(delta, [...x.shape.slice(0, -1), out]);
}

/** W + scale * B A (transposed for Conv1D's (in, out) weights): the merged weight of one layer. */
export function mergedWeight(
  base: WeightTensor,
  m: LinearModule,
  a: WeightTensor,
  b: WeightTensor,
  scale: number,
): WeightTensor {
  const r = a.shape[0];
  const out = new Float32Array(base.data);
  for (let o = 0; o < m.outFeatures; o++) {
    for (let i = 0; i < m.inFeatures; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += b.data[o * r + k] * a.data[k * m.inFeatures + i];
      out[m.layout === 'conv1d' ? i * m.outFeatures + o : o * m.inFeatures + i] += scale * s;
    }
  }
  return { data: out, shape: base.shape, dtype: 'float32' };
}

/** The base weights with every adapted layer merged (PEFT's merge_and_unload), as a new store. */
export function mergeLora(
  c: ModelConfig,
  base: WeightStore,
  spec: LoraSpec & { weights: WeightStore },
  checkpointName: (modulePath: string) => string,
): WeightStore {
  const merged = new Map<string, WeightTensor>();
  for (const m of loraModules(c, spec)) {
    const name = `${checkpointName(m.path)}.weight`;
    merged.set(
      name,
      mergedWeight(
        base.get(name),
        m,
        spec.weights.get(loraKey(m.path, 'A')),
        spec.weights.get(loraKey(m.path, 'B')),
        loraScale(spec),
      ),
    );
  }
  return {
    names: () => base.names(),
    has: (n) => base.has(n),
    shape: (n) => base.shape(n),
    get: (n) => merged.get(n) ?? base.get(n),
  };
}

/** A LoRA spec from PEFT's adapter_config.json fields; settings that change the arithmetic are refused. */
export function loraSpecFromConfig(cfg: Record<string, unknown>, file: string): Omit<LoraSpec, 'weights'> {
  const bad = (field: string, what: string): never => {
    throw new UserInputError(`${file}: ${field} ${what}`, [file, field], 'BAD_ADAPTER');
  };
  const r = cfg.r;
  const alpha = cfg.lora_alpha;
  const dropout = cfg.lora_dropout ?? 0;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1)
    bad('r', `must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0))
    bad('lora_alpha', `must be a positive number, got ${JSON.stringify(alpha)}`);
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1)
    bad('lora_dropout', `must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const targets = cfg.target_modules;
  if (targets !== 'all-linear' && !(Array.isArray(targets) && targets.every((t) => typeof t === 'string'))) {
    bad('target_modules', `must be a list of module names or "all-linear", got ${JSON.stringify(targets)}`);
  }
  for (const flag of ['use_dora', 'use_rslora', 'use_qalora', 'lora_bias'])
    if (cfg[flag]) bad(flag, 'is not supported');
  if ((cfg.bias ?? 'none') !== 'none') bad('bias', `"${String(cfg.bias)}" is not supported (only "none")`);
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const v = cfg[field];
    if (v && typeof v === 'object' && Object.keys(v).length) bad(field, 'is not supported');
  }
  for (const field of ['modules_to_save', 'layers_to_transform', 'layer_replication']) {
    if (cfg[field] !== undefined && cfg[field] !== null) bad(field, 'is not supported');
  }
  return {
    kind: 'lora',
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    targets: targets as string[] | 'all-linear',
  };
}
