/** The evaluation services of one API process: jobs (create, cancel), the analysts' queries, live progress. */
import type { DataSource } from 'typeorm';
import type { EventPublisher } from '../../queue/publisher';
import type { TypedQueue } from '../../queue/queues';
import type { ChannelSubscriber } from '../../queue/subscriber';
import type { DatasetService } from '../datasets/service';
import type { ModelService } from '../models/service';
import { EvaluationProgressStreams } from './progress';
import { EvaluationQueries } from './queries';
import { EvaluationService } from './service';

export interface EvaluationServices {
  jobs: EvaluationService;
  queries: EvaluationQueries;
  progress: EvaluationProgressStreams;
}

export function createEvaluationServices(deps: {
  db: DataSource;
  models: ModelService;
  datasets: DatasetService;
  queue: TypedQueue<'evaluation'>;
  publisher: EventPublisher;
  subscriber: ChannelSubscriber;
  redisPrefix: string;
}): EvaluationServices {
  return {
    jobs: new EvaluationService(deps.db, deps.models, deps.datasets, deps.queue, deps.publisher),
    queries: new EvaluationQueries(deps.db),
    progress: new EvaluationProgressStreams(deps.db, deps.subscriber, deps.redisPrefix),
  };
}
