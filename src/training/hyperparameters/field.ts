/**
 * How one hyperparameter is declared (type, bounds, default, where it applies, description) and the checks and
 * texts every field gets from that declaration: the API's input type and descriptions, the CLI's config checks,
 * the worker's re-check and the `hyperparameterSpecification` query all read the same declaration.
 */
import { UserInputError } from '../../errors';
import type { MethodName, ScaleName } from '../../vocabulary';

/** What a default (or a bound) may depend on; every part is optional, since a caller may not know it yet. */
export interface SpecContext {
  method?: MethodName;
  parameterScale?: ScaleName;
  /** The base model's maximum sequence length (max_position_embeddings). */
  modelMaxSequenceLength?: number;
  /** Who runs the hyperparameters: a queued job (another worker may take it over) or `whetstone train`. */
  runner?: 'job' | 'cli';
  /** The defaults the base model recommends, by parameter scale (its folder's config.json: recommended.ts). */
  recommended?: Recommendations | null;
}

/** Field values a model recommends in place of the fields' own defaults, by parameter scale (as configs write them). */
export type Recommendations = Partial<Record<ScaleName, Readonly<Record<string, unknown>>>>;

/** Where a model folder says its recommendations: config.json's `whetstone.recommended_hyperparameters`. */
export const RECOMMENDATIONS_AT = ['whetstone', 'recommended_hyperparameters'] as const;

/** A default may depend on the context and on the fields declared before it. */
export type Default<T> = T | ((ctx: SpecContext, earlier: Readonly<Record<string, unknown>>) => T);

interface Common<T> {
  /** What the field does; the range, the default and where it applies are appended from the declaration. */
  description: string;
  default: Default<T>;
  /** How a default that depends on the context is computed, in words. */
  defaultNote?: string;
  /** Methods the field means something for; absent: all. */
  methods?: readonly MethodName[];
  /** Parameter scales the field means something for; absent: all. */
  scales?: readonly ScaleName[];
  /** `engine`: a tuning knob of configs and the engine, not in the API; `job`: only jobs (not the engine's). */
  only?: 'engine' | 'job';
  /** Changing it does not change the trajectory, so a resumed run may change it. */
  resumeFree?: true;
}

export interface NumberField extends Common<number | null> {
  type: 'int' | 'float';
  /** Inclusive bounds unless `minExclusive`. */
  min: number;
  max: number;
  minExclusive?: true;
  /** Null stands for a default the engine derives from the model (see defaultNote). */
  nullable?: true;
  /** The API takes whole numbers only (its GraphQL type is Int) although the engine runs fractions. */
  wholeInApi?: true;
  /** A tighter maximum once the context is known (a rule checks it; the specification query shows it). */
  maxFor?: (ctx: SpecContext) => number;
}

/** A number field's limits as the API takes it: whole numbers where `wholeInApi`. */
export function apiLimits(spec: NumberField): {
  type: 'int' | 'float';
  min: number;
  minExclusive: boolean;
  max: number;
} {
  if (!spec.wholeInApi) {
    return { type: spec.type, min: spec.min, minExclusive: spec.minExclusive ?? false, max: spec.max };
  }
  const least = spec.minExclusive ? Math.floor(spec.min) + 1 : Math.ceil(spec.min);
  return { type: 'int', min: least, minExclusive: false, max: spec.max };
}

export interface BooleanField extends Common<boolean> {
  type: 'boolean';
}

export interface TextField extends Common<string | null> {
  type: 'string';
  nullable: true;
  maxLength: number;
}

export interface EnumField<V extends string = string> extends Common<V> {
  type: 'enum';
  values: readonly V[];
  /** The GraphQL enum's name and descriptions; its value names are the upper-case values. */
  enumName: string;
  enumDescription: string;
  valueDescriptions: Record<V, string>;
}

/** Module names for LoRA, or the single entry `all-linear`. */
export interface ModuleListField extends Common<readonly string[] | 'all-linear'> {
  type: 'modules';
  maxItems: number;
  itemMaxLength: number;
}

export type FieldSpec = NumberField | BooleanField | TextField | EnumField | ModuleListField;

/** The value a field holds once resolved. */
export type FieldValue<F> = F extends NumberField
  ? F extends { nullable: true }
    ? number | null
    : number
  : F extends BooleanField
    ? boolean
    : F extends TextField
      ? string | null
      : F extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : F extends ModuleListField
          ? string[] | 'all-linear'
          : never;

export const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Declares a group of fields, checking each against FieldSpec while keeping its literal types. */
export function defineFields<T extends Record<string, FieldSpec>>(fields: T): T {
  return fields;
}

export function defaultOf(
  spec: FieldSpec,
  ctx: SpecContext,
  earlier: Readonly<Record<string, unknown>> = {},
): unknown {
  return typeof spec.default === 'function' ? spec.default(ctx, earlier) : spec.default;
}

/**
 * The value the base model recommends for the field, checked like a given value, where it recommends one for the
 * job's scale and the field applies to the job's method and scale; else undefined. Throws UserInputError at `path`.
 */
export function recommendationOf(
  name: string,
  spec: FieldSpec,
  ctx: SpecContext,
  path: readonly string[] = [name],
): unknown {
  const scale = ctx.parameterScale;
  const value = scale ? ctx.recommended?.[scale]?.[name] : undefined;
  if (value === undefined || value === null || !appliesTo(spec, ctx)) return undefined;
  try {
    return checkField(spec, value, [...RECOMMENDATIONS_AT, scale!, name]);
  } catch (err) {
    if (!(err instanceof UserInputError)) throw err;
    throw new UserInputError(`the base model's config.json recommends a value out of range: ${err.message}`, [
      ...path,
    ]);
  }
}

/** The field's default for the context: the base model's recommendation where it has one, else its own. */
export function defaultFor(
  name: string,
  spec: FieldSpec,
  ctx: SpecContext,
  earlier: Readonly<Record<string, unknown>> = {},
  path: readonly string[] = [name],
): unknown {
  return recommendationOf(name, spec, ctx, path) ?? defaultOf(spec, ctx, earlier);
}

/** Whether the field means something for a job of this method and scale (unknown parts: yes). */
export function appliesTo(spec: FieldSpec, ctx: Pick<SpecContext, 'method' | 'parameterScale'>): boolean {
  return (
    (!spec.methods || !ctx.method || spec.methods.includes(ctx.method)) &&
    (!spec.scales || !ctx.parameterScale || spec.scales.includes(ctx.parameterScale))
  );
}

/** The API's (GraphQL enum) name of an enum value. */
export const apiValueName = (value: string): string => value.toUpperCase();

function fail(path: readonly string[], what: string, value: unknown): never {
  throw new UserInputError(`${path.join('.')} must be ${what}, got ${JSON.stringify(value)}`, [...path]);
}

export function rangeText(spec: NumberField): string {
  if (spec.type === 'int') return `an integer in [${spec.min}, ${spec.max}]`;
  return `a number ${spec.minExclusive ? '>' : '>='} ${spec.min} and <= ${spec.max}`;
}

function checkNumber(spec: NumberField, v: unknown, path: readonly string[]): number | null {
  if (v === null && spec.nullable) return null;
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (spec.type === 'float' || Number.isInteger(v)) &&
    (spec.minExclusive ? v > spec.min : v >= spec.min) &&
    v <= spec.max;
  return ok ? v : fail(path, rangeText(spec), v);
}

function checkModules(spec: ModuleListField, v: unknown, path: readonly string[]): string[] | 'all-linear' {
  // Configs may write a comma-separated string; the API sends a list, ['all-linear'] for every linear layer.
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
  const what = `'all-linear' or a list of 1 to ${spec.maxItems} module names`;
  if (!Array.isArray(list) || list.length === 0 || list.length > spec.maxItems) return fail(path, what, v);
  if (list.length === 1 && list[0] === 'all-linear') return 'all-linear';
  list.forEach((name, i) => {
    if (typeof name !== 'string' || name.length > spec.itemMaxLength || !MODULE_NAME.test(name)) {
      throw new UserInputError(
        `${path.join('.')}[${i}] ${JSON.stringify(name)} is not a module name (letters, digits, _ and ., at most ${spec.itemMaxLength})`,
        [...path, String(i)],
      );
    }
  });
  return list as string[];
}

/** The value checked against its declaration, in the engine's form; throws UserInputError naming `path`. */
export function checkField(spec: FieldSpec, v: unknown, path: readonly string[]): unknown {
  switch (spec.type) {
    case 'int':
    case 'float':
      return checkNumber(spec, v, path);
    case 'boolean':
      return typeof v === 'boolean' ? v : fail(path, 'true or false', v);
    case 'string':
      if (v === null) return null;
      return typeof v === 'string' && v.length > 0 && v.length <= spec.maxLength
        ? v
        : fail(path, `a non-empty string of at most ${spec.maxLength} characters`, v);
    case 'enum': {
      // Configs may write any case ('cosine', 'COSINE'); the stored value is the declared one.
      const hit =
        typeof v === 'string' ? spec.values.find((x) => x.toLowerCase() === v.toLowerCase()) : undefined;
      return hit ?? fail(path, `one of ${spec.values.join(', ')}`, v);
    }
    case 'modules':
      return checkModules(spec, v, path);
  }
}

export function valueText(spec: FieldSpec, value: unknown): string {
  if (spec.type === 'enum') return apiValueName(String(value));
  if (value === 'all-linear') return '["all-linear"]';
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return value === null ? 'null' : String(value);
}

/** The default in words: the note where it depends on the context, else the value. */
export function defaultText(spec: FieldSpec): string {
  return spec.defaultNote ?? valueText(spec, defaultOf(spec, {}));
}

function limitsText(spec: FieldSpec): string {
  switch (spec.type) {
    case 'int':
    case 'float': {
      const l = apiLimits(spec);
      return ` ${l.type === 'int' ? 'Integer' : 'Number'} in ${l.minExclusive ? '(' : '['}${l.min}, ${l.max}].`;
    }
    case 'string':
      return ` At most ${spec.maxLength} characters.`;
    case 'modules':
      return ` At most ${spec.maxItems} names of at most ${spec.itemMaxLength} characters.`;
    default:
      return '';
  }
}

function appliesText(spec: FieldSpec): string {
  const only = [...(spec.methods ?? []), ...(spec.scales ?? [])];
  return only.length ? ` Applies to ${only.join(', ')} only.` : '';
}

/** How a model folder recommends defaults, in words (the API's types say it once). */
export const RECOMMENDATION_NOTE = `A base model may recommend other defaults in its config.json (${RECOMMENDATIONS_AT.join('.')}, by parameter scale: {"LORA": {"epochs": 10, ...}}); a job on it takes those first, where the field applies, checked like given values.`;

/** The schema description of a field: what it does, its range, where it applies and its default. */
export function describeField(spec: FieldSpec): string {
  return `${spec.description}${limitsText(spec)}${appliesText(spec)} Default: ${defaultText(spec)}.`;
}
