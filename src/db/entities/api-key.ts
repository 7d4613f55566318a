import { Column, Entity } from 'typeorm';
import { ApiKeyRole } from './enums';
import { ProjectOwnedEntity } from './project-owned';

/** An API key; only the sha256 of the secret is stored, the secret is shown once at creation. */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity extends ProjectOwnedEntity {
  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  role: ApiKeyRole;

  /** Hex sha256 of the whole secret. */
  @Column({ name: 'key_hash', type: 'text' })
  keyHash: string;

  /** The first characters of the secret, so people can tell their keys apart. */
  @Column({ name: 'key_prefix', type: 'text' })
  keyPrefix: string;

  @Column({ name: 'revoked_at', type: 'timestamptz', precision: 3, nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', precision: 3, nullable: true })
  lastUsedAt: Date | null;
}
