import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { ApiKeyRole } from '../../db/entities';
import '../common/enums';

@ObjectType({ description: 'A tenant: its keys see only its own models, datasets and jobs.' })
export class Project {
  @Field(() => ID, { description: 'Project id.' })
  id: string;

  @Field({ description: 'Unique project name.' })
  name: string;

  @Field({ description: 'True for the default project, which the bootstrap key administers.' })
  isDefault: boolean;

  @Field({ description: 'When the project was created.' })
  createdAt: Date;
}

@ObjectType({ description: 'An API key of a project. The secret itself is shown only once, at creation.' })
export class ApiKey {
  @Field(() => ID, { description: 'Key id (not the secret).' })
  id: string;

  @Field({ description: 'A label for people.' })
  name: string;

  @Field(() => ApiKeyRole, { description: 'What the key may do.' })
  role: ApiKeyRole;

  @Field({ description: 'The first characters of the secret, to tell keys apart.' })
  keyPrefix: string;

  @Field({ description: 'When the key was created.' })
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When the key was revoked; null while it is valid.' })
  revokedAt: Date | null;

  @Field(() => Date, {
    nullable: true,
    description: 'When the key was last used (updated at most once a minute); null if never.',
  })
  lastUsedAt: Date | null;
}

@ObjectType({ description: 'A newly created API key with its secret.' })
export class CreatedApiKey {
  @Field(() => ApiKey, { description: 'The stored key.' })
  apiKey: ApiKey;

  @Field({
    description: 'The secret, to send as `Authorization: Bearer <secret>`. It cannot be shown again.',
  })
  secret: string;
}

@ObjectType({ description: 'A newly created project with its first admin key.' })
export class CreatedProject {
  @Field(() => Project, { description: 'The project.' })
  project: Project;

  @Field(() => CreatedApiKey, { description: 'An ADMIN key of the project.' })
  adminKey: CreatedApiKey;
}

@ObjectType({ description: 'Who is asking: the project and key of the request.' })
export class Viewer {
  @Field(() => Project, { description: "The caller's project." })
  project: Project;

  @Field(() => ApiKey, { description: 'The key the request used.' })
  apiKey: ApiKey;
}

@InputType({ description: 'A new API key for the caller’s project.' })
export class CreateApiKeyInput {
  @Field({ description: 'A label for people, 1 to 200 characters.' })
  name: string;

  @Field(() => ApiKeyRole, {
    defaultValue: ApiKeyRole.MEMBER,
    description: 'The role of the key. Default: MEMBER.',
  })
  role: ApiKeyRole;
}

@InputType({ description: 'A new project.' })
export class CreateProjectInput {
  @Field({ description: 'Unique project name, 1 to 200 characters.' })
  name: string;
}
