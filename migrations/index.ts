/** Every migration in order; listed explicitly so the same list works from TypeScript sources and compiled JS. */
import { InitialSchema1732730000000 } from './1732730000000-InitialSchema';
import { Evaluations1795800000000 } from './1795800000000-Evaluations';
import { RewardModelJob1796400000000 } from './1796400000000-RewardModelJob';
import { HyperparametersStoredOnce1797000000000 } from './1797000000000-HyperparametersStoredOnce';
import { ModelShape1797100000000 } from './1797100000000-ModelShape';
import { Generations1797300000000 } from './1797300000000-Generations';
import { JobAttempts1797400000000 } from './1797400000000-JobAttempts';
import { GenerationProgress1797500000000 } from './1797500000000-GenerationProgress';
import { ModelRecommendedHyperparameters1797650000000 } from './1797650000000-ModelRecommendedHyperparameters';

export const MIGRATIONS = [
  InitialSchema1732730000000,
  Evaluations1795800000000,
  RewardModelJob1796400000000,
  HyperparametersStoredOnce1797000000000,
  ModelShape1797100000000,
  Generations1797300000000,
  JobAttempts1797400000000,
  GenerationProgress1797500000000,
  ModelRecommendedHyperparameters1797650000000,
];
