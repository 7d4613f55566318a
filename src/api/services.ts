/** The services behind the resolvers, built once per API process. */
import type { DataSource } from 'typeorm';
import { jobsDir, type Config } from '../config';
import type { EventPublisher } from '../queue/publisher';
import type { TypedQueue } from '../queue/queues';
import type { ChannelSubscriber } from '../queue/subscriber';
import { ServerFiles } from './common/server-files';
import { DatasetService } from './datasets/service';
import { createEvaluationServices, type EvaluationServices } from './evaluations/services';
import { GenerationService } from './generations/service';
import { GenerationStreams } from './generations/stream';
import { ModelService } from './models/service';
import { PrincipalCache } from './projects/principal-cache';
import { ProjectService } from './projects/service';
import { ProgressStreams } from './training-jobs/progress';
import { TrainingJobService } from './training-jobs/service';

export interface Services {
  projects: ProjectService;
  /** Evicts revoked keys announced by any API process. */
  keyCache: PrincipalCache;
  models: ModelService;
  datasets: DatasetService;
  jobs: TrainingJobService;
  progress: ProgressStreams;
  evaluations: EvaluationServices;
  generations: { jobs: GenerationService; streams: GenerationStreams };
}

export interface ServiceDeps {
  config: Pick<Config, 'importRoot' | 'dataDir' | 'redisPrefix'>;
  db: DataSource;
  trainingQueue: TypedQueue<'training'>;
  evaluationQueue: TypedQueue<'evaluation'>;
  generationQueue: TypedQueue<'generation'>;
  publisher: EventPublisher;
  subscriber: ChannelSubscriber;
}

export function createServices({
  config,
  db,
  trainingQueue,
  evaluationQueue,
  generationQueue,
  publisher,
  subscriber,
}: ServiceDeps): Services {
  const files = new ServerFiles({ importRoot: config.importRoot, jobsDir: jobsDir(config.dataDir) });
  const models = new ModelService(db, files);
  const datasets = new DatasetService(db, files);
  const cache = new PrincipalCache();
  const generations = new GenerationService(db, models, generationQueue, publisher);
  return {
    projects: new ProjectService(db, { cache, announce: (id) => publisher.announceKeyRevoked(id) }),
    keyCache: cache,
    models,
    datasets,
    jobs: new TrainingJobService(db, models, datasets, trainingQueue, publisher),
    progress: new ProgressStreams(db, subscriber, publisher, config.redisPrefix),
    evaluations: createEvaluationServices({
      db,
      models,
      datasets,
      queue: evaluationQueue,
      publisher,
      subscriber,
      redisPrefix: config.redisPrefix,
    }),
    generations: {
      jobs: generations,
      streams: new GenerationStreams(db, generations, subscriber, publisher, config.redisPrefix),
    },
  };
}
