/** What every resolver receives: who is asking (a project and a key) and the services it may call. */
import type { SubscribeResolverData } from 'type-graphql';
import type { ApiKeyRole } from '../db/entities';
import type { Loaders } from './loaders';
import type { Services } from './services';

export interface Principal {
  projectId: string;
  apiKeyId: string;
  role: ApiKeyRole;
  /** Admins of the default project may create projects. */
  isDefaultProject: boolean;
}

export interface RequestContext {
  principal: Principal;
  services: Services;
  loaders: Loaders;
}

/** What a subscription's `subscribe` receives, with its arguments. */
export type SubscribeData<Args> = SubscribeResolverData<unknown, Args, RequestContext>;
