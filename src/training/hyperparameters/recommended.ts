/**
 * A model's recommended hyperparameters, said once in its folder: config.json's
 * `whetstone.recommended_hyperparameters`, by parameter scale, e.g.
 * `{"LORA": {"epochs": 10, "batchSize": 2, "learningRate": 0.01, "loraTargets": ["all-linear"]}}`.
 * Registration reads them (every name must be a job's field, every value in range); a job's resolution takes them
 * before the fields' own defaults (field.ts `defaultFor`), only where the field applies to its method and scale.
 */
import { UserInputError } from '../../errors';
import { SCALE_NAMES, type ScaleName } from '../../vocabulary';
import { RECOMMENDATIONS_AT, checkField, type Recommendations } from './field';
import { fieldSpec, namesOf, type HyperparameterName } from './index';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The recommendations of a parsed config.json (null: none), checked; throws UserInputError naming the key. */
export function readRecommendations(config: unknown, file = 'config.json'): Recommendations | null {
  let at: unknown = config;
  for (const key of RECOMMENDATIONS_AT) at = isObject(at) ? at[key] : undefined;
  if (at === undefined || at === null) return null;
  const where = [file, ...RECOMMENDATIONS_AT];
  if (!isObject(at))
    throw new UserInputError(`${where.join('.')} must be an object by parameter scale`, where);
  const names: readonly string[] = namesOf('job');
  const out: Recommendations = {};
  for (const [scale, values] of Object.entries(at)) {
    const path = [...where, scale];
    if (!(SCALE_NAMES as readonly string[]).includes(scale))
      throw new UserInputError(
        `${where.join('.')}: ${scale} is not a parameter scale (${SCALE_NAMES.join(', ')})`,
        path,
      );
    if (!isObject(values))
      throw new UserInputError(`${path.join('.')} must be an object of hyperparameters`, path);
    const checked: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(values)) {
      if (!names.includes(name))
        throw new UserInputError(`${path.join('.')}: unknown hyperparameter ${name}`, [...path, name]);
      checked[name] = checkField(fieldSpec(name as HyperparameterName), value, [...path, name]);
    }
    out[scale as ScaleName] = checked;
  }
  return out;
}
