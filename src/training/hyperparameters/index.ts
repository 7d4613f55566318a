/**
 * The one hyperparameter specification and its resolver. Every field is declared once (fields.ts, and each
 * method's own beside it: alignment/dpo-fields.ts, alignment/rl/fields.ts); the rules between fields are in
 * rules.ts. The API (`createTrainingJob`, its input type, `hyperparameterSpecification`), `whetstone train`
 * configs and the worker's run all resolve through `resolveHyperparameters`. Unknown keys are errors, so a
 * misspelt name never silently falls back to a default.
 */
import { UserInputError } from '../../errors';
import { DPO_FIELDS } from '../alignment/dpo-fields';
import { RL_FIELDS } from '../alignment/rl/fields';
import { FieldSpec, FieldValue, SpecContext, appliesTo, checkField, defaultFor, defaultOf } from './field';
import { RUN_FIELDS, TRAINING_FIELDS } from './fields';
import { HYPERPARAMETER_RULES, RuleFacts } from './rules';

export { MAX_SEQUENCE_LENGTH_LIMIT, defaultSequenceLength } from './fields';
export type { Recommendations, SpecContext } from './field';
export { datasetFacts, type RuleFacts } from './rules';

/** Every field, in schema order. */
export const HYPERPARAMETERS = { ...TRAINING_FIELDS, ...DPO_FIELDS, ...RL_FIELDS, ...RUN_FIELDS };
type Spec = typeof HYPERPARAMETERS;
export type HyperparameterName = keyof Spec;

type NamesBut<Only> = {
  [K in HyperparameterName]: Spec[K] extends { only: Only } ? never : K;
}[HyperparameterName];

/** What the engine runs with (configs and the worker): every field but the job-only ones. */
export type Hyperparameters = { [K in NamesBut<'job'>]: FieldValue<Spec[K]> };
/** What a job stores: every field. */
export type JobHyperparameters = { [K in HyperparameterName]: FieldValue<Spec[K]> };

export const HYPERPARAMETER_NAMES = Object.keys(HYPERPARAMETERS) as HyperparameterName[];

export function fieldSpec(name: HyperparameterName): FieldSpec {
  return HYPERPARAMETERS[name];
}

/** Fields a surface takes: a job's (the API) or the engine's (configs, the worker). */
export function namesOf(surface: 'job' | 'engine'): HyperparameterName[] {
  const excluded = surface === 'job' ? 'engine' : 'job';
  return HYPERPARAMETER_NAMES.filter((n) => fieldSpec(n).only !== excluded);
}

/** Fields whose change does not change the trajectory, so a resume may change them. */
export const RESUME_FREE: ReadonlySet<string> = new Set(
  HYPERPARAMETER_NAMES.filter((n) => fieldSpec(n).resumeFree),
);

export interface ResolveOptions extends SpecContext, RuleFacts {
  surface: 'job' | 'engine';
  /** Refuse a given field that does not apply to the method and scale (API requests); configs keep it. */
  strict?: boolean;
  /** Where the hyperparameters sit in the request or file, for error paths. */
  path?: readonly string[];
}

function appliesOnly(spec: FieldSpec, ctx: SpecContext): string {
  if (spec.scales && ctx.parameterScale && !spec.scales.includes(ctx.parameterScale)) {
    return `parameterScale ${spec.scales.join(' or ')}, not ${ctx.parameterScale}`;
  }
  return `method ${spec.methods!.join(' or ')}, not ${ctx.method}`;
}

/**
 * Checks the given values against the specification and the rules, fills the defaults (for the context: the base
 * model's recommendation first, where it has one for the scale and the field applies), and
 * returns every field of the surface in the engine's form. null counts as not given. Throws UserInputError
 * with the field's path.
 */
export function resolveHyperparameters(raw: unknown, o: ResolveOptions): Record<string, unknown> {
  const path = o.path ?? ['hyperparameters'];
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserInputError(`${path.join('.')} must be an object, got ${JSON.stringify(raw)}`, [...path]);
  }
  const given = raw as Record<string, unknown>;
  const names = namesOf(o.surface);
  const unknown = Object.keys(given).filter((k) => !(names as string[]).includes(k));
  // A job stores every field: the engine-only ones with their defaults.
  const filled = o.surface === 'job' ? HYPERPARAMETER_NAMES : names;
  if (unknown.length) {
    throw new UserInputError(
      `${path.join('.')}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} ` +
        `(known: ${names.join(', ')})`,
      [...path, unknown[0]],
    );
  }
  const out: Record<string, unknown> = {};
  const givenNames = new Set<string>();
  for (const name of filled) {
    const spec = fieldSpec(name);
    const value = given[name];
    if (value === undefined || value === null) {
      out[name] = defaultFor(name, spec, o, out, [...path, name]);
      continue;
    }
    if (o.strict && !appliesTo(spec, o)) {
      throw new UserInputError(`${name} applies only to ${appliesOnly(spec, o)}`, [...path, name]);
    }
    givenNames.add(name);
    out[name] = checkField(spec, value, [...path, name]);
  }
  checkHyperparameterRules(out, o, givenNames, path);
  return out;
}

/** Applies the rules whose facts are known; throws UserInputError at the field a broken rule blames. */
export function checkHyperparameterRules(
  hp: Readonly<Record<string, unknown>>,
  ctx: SpecContext & RuleFacts,
  given: ReadonlySet<string> = new Set(),
  path: readonly string[] = ['hyperparameters'],
): void {
  for (const rule of HYPERPARAMETER_RULES) {
    const broken = rule.check(hp, ctx, given);
    if (broken) throw new UserInputError(broken.message, [...path, broken.field]);
  }
}

/** Engine hyperparameters from a config or a job spec (`whetstone train`, the worker). */
export function parseHyperparameters(
  raw: unknown,
  path: readonly string[] = ['hyperparameters'],
  ctx: SpecContext = {},
): Hyperparameters {
  return resolveHyperparameters(raw, { runner: 'cli', ...ctx, surface: 'engine', path }) as Hyperparameters;
}

/** A new job's hyperparameters (the API): strict about where fields apply, checked against model and data. */
export function resolveJobHyperparameters(
  raw: unknown,
  ctx: SpecContext & RuleFacts & { path: readonly string[] },
): JobHyperparameters {
  return resolveHyperparameters(raw, {
    ...ctx,
    runner: 'job',
    surface: 'job',
    strict: true,
  }) as JobHyperparameters;
}

/** A field's default where a saved run predates it: the value every run had before the field existed. */
export function defaultValue(name: HyperparameterName, ctx: SpecContext = {}): unknown {
  return defaultOf(fieldSpec(name), ctx);
}

/** A job's stored hyperparameters split into what the engine runs and where it runs. */
export function splitStored(stored: Readonly<Record<string, unknown>>): {
  hyperparameters: Record<string, unknown>;
  executionProvider: JobHyperparameters['executionProvider'];
} {
  const { executionProvider, ...hyperparameters } = stored;
  return { hyperparameters, executionProvider: executionProvider as JobHyperparameters['executionProvider'] };
}
