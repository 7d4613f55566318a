/** The one writer of `projects` and `api_keys`: the default project, new projects, and their keys. */
import type { EntityManager } from 'typeorm';
import { ApiKeyEntity, type ApiKeyRole, ProjectEntity } from '../entities';
import type { Queryable } from '../query';

/** Creates the project marked default unless one exists (several processes may race); returns it. */
export async function ensureDefaultProject(m: EntityManager, name: string): Promise<ProjectEntity> {
  await m.query(`INSERT INTO projects (name, is_default) VALUES ($1, true) ON CONFLICT DO NOTHING`, [name]);
  return m.getRepository(ProjectEntity).findOneByOrFail({ isDefault: true });
}

export function insertProject(m: Pick<EntityManager, 'getRepository'>, name: string): Promise<ProjectEntity> {
  return m.getRepository(ProjectEntity).save({ name, isDefault: false });
}

/** An ADMIN key named 'bootstrap' of `hash`, unless a key of that hash exists. */
export async function ensureBootstrapKey(
  db: Queryable,
  projectId: string,
  key: { hash: string; prefix: string },
): Promise<void> {
  await db.query(
    `INSERT INTO api_keys (project_id, name, role, key_hash, key_prefix)
     VALUES ($1, 'bootstrap', 'ADMIN', $2, $3) ON CONFLICT (key_hash) DO NOTHING`,
    [projectId, key.hash, key.prefix],
  );
}

export function insertApiKey(
  db: Pick<EntityManager, 'getRepository'>,
  key: { projectId: string; name: string; role: ApiKeyRole; keyHash: string; keyPrefix: string },
): Promise<ApiKeyEntity> {
  return db.getRepository(ApiKeyEntity).save({ ...key, revokedAt: null, lastUsedAt: null });
}

export async function touchApiKey(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE api_keys SET last_used_at = now() WHERE id = $1`, [id]);
}

export async function revokeApiKey(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
}
