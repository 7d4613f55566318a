import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context';
import {
  ApiKey,
  CreateApiKeyInput,
  CreatedApiKey,
  CreatedProject,
  CreateProjectInput,
  Viewer,
} from './types';

@Resolver()
export class ProjectResolver {
  @Query(() => Viewer, { description: 'The project and API key of this request.' })
  async viewer(@Ctx() { principal, services }: RequestContext): Promise<Viewer> {
    const [project, apiKey] = await Promise.all([
      services.projects.project(principal),
      services.projects.apiKey(principal),
    ]);
    return { project, apiKey };
  }

  @Query(() => [ApiKey], { description: "The project's API keys, newest first (ADMIN keys only)." })
  apiKeys(@Ctx() { principal, services }: RequestContext): Promise<ApiKey[]> {
    return services.projects.listKeys(principal);
  }

  @Mutation(() => CreatedApiKey, {
    description: 'Creates an API key in the caller’s project (ADMIN keys only).',
  })
  createApiKey(
    @Arg('input', () => CreateApiKeyInput, { description: 'The new key.' }) input: CreateApiKeyInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<CreatedApiKey> {
    return services.projects.createKey(principal, input.name, input.role);
  }

  @Mutation(() => ApiKey, {
    description: 'Revokes an API key of the caller’s project at once (ADMIN keys only).',
  })
  revokeApiKey(
    @Arg('id', () => ID, { description: 'The key id.' }) id: string,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<ApiKey> {
    return services.projects.revokeKey(principal, id);
  }

  @Mutation(() => CreatedProject, {
    description: 'Creates a project with a first ADMIN key (ADMIN keys of the default project only).',
  })
  createProject(
    @Arg('input', () => CreateProjectInput, { description: 'The new project.' }) input: CreateProjectInput,
    @Ctx() { principal, services }: RequestContext,
  ): Promise<CreatedProject> {
    return services.projects.createProject(principal, input.name);
  }
}
