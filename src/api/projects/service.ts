/**
 * Projects and their API keys: authentication of a presented secret, the bootstrap of the default project, and
 * key management (admins only, within their own project).
 */
import type { DataSource } from 'typeorm';
import { ApiKeyEntity, ApiKeyRole, ProjectEntity } from '../../db/entities';
import {
  ensureBootstrapKey,
  ensureDefaultProject,
  insertApiKey,
  insertProject,
  revokeApiKey,
  touchApiKey,
} from '../../db/store/projects';
import type { Principal } from '../context';
import { findInProject } from '../common/ids';
import { checkName } from '../common/names';
import { badInput, conflict, forbidden, notFound } from '../errors';
import { displayPrefix, generateApiKeySecret, hashApiKey } from './api-keys';
import type { PrincipalCache } from './principal-cache';

export const DEFAULT_PROJECT_NAME = 'default';

/** Writing `last_used_at` on every request would make every read a write; once a minute is enough to audit. */
const LAST_USED_RESOLUTION_MS = 60_000;

const MIN_BOOTSTRAP_KEY_LENGTH = 16;

export interface CreatedKey {
  apiKey: ApiKeyEntity;
  secret: string;
}

export interface KeyRevocation {
  cache: PrincipalCache;
  /** Tells every API process (this one included) to forget a revoked key. */
  announce(apiKeyId: string): Promise<void>;
}

export class ProjectService {
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(
    private readonly db: DataSource,
    private readonly revocation?: KeyRevocation,
  ) {}

  /** The principal a secret stands for, or null when it is unknown or revoked. */
  async authenticate(secret: string): Promise<Principal | null> {
    const hash = hashApiKey(secret);
    const cached = this.revocation?.cache.get(hash);
    if (cached) return cached;
    const rows: { id: string; project_id: string; role: ApiKeyRole; is_default: boolean }[] =
      await this.db.query(
        `SELECT k.id, k.project_id, k.role, p.is_default
         FROM api_keys k JOIN projects p ON p.id = k.project_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
        [hash],
      );
    if (rows.length === 0) return null;
    const row = rows[0];
    this.touch(row.id);
    const principal = {
      apiKeyId: row.id,
      projectId: row.project_id,
      role: row.role,
      isDefaultProject: row.is_default,
    };
    this.revocation?.cache.set(hash, principal);
    return principal;
  }

  private touch(keyId: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(keyId) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(keyId, now);
    touchApiKey(this.db, keyId).catch(() => undefined);
  }

  /**
   * Creates the default project if missing and, when a bootstrap key is configured, makes it an admin key of that
   * project. Safe to run from several processes at once.
   */
  async bootstrap(bootstrapKey: string | undefined): Promise<ProjectEntity> {
    if (bootstrapKey !== undefined && bootstrapKey.length < MIN_BOOTSTRAP_KEY_LENGTH) {
      throw new Error(`WHETSTONE_BOOTSTRAP_KEY must be at least ${MIN_BOOTSTRAP_KEY_LENGTH} characters`);
    }
    return this.db.transaction(async (m) => {
      const project = await ensureDefaultProject(m, DEFAULT_PROJECT_NAME);
      if (bootstrapKey !== undefined) {
        await ensureBootstrapKey(m, project.id, {
          hash: hashApiKey(bootstrapKey),
          prefix: displayPrefix(bootstrapKey),
        });
      }
      return project;
    });
  }

  async project(principal: Principal): Promise<ProjectEntity> {
    return this.db.getRepository(ProjectEntity).findOneByOrFail({ id: principal.projectId });
  }

  async apiKey(principal: Principal): Promise<ApiKeyEntity> {
    return this.db.getRepository(ApiKeyEntity).findOneByOrFail({ id: principal.apiKeyId });
  }

  async listKeys(principal: Principal): Promise<ApiKeyEntity[]> {
    requireAdmin(principal);
    return this.db
      .getRepository(ApiKeyEntity)
      .find({ where: { projectId: principal.projectId }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  async createKey(principal: Principal, name: string, role: ApiKeyRole): Promise<CreatedKey> {
    requireAdmin(principal);
    return this.insertKey(this.db, principal.projectId, checkName(name, ['input', 'name']), role);
  }

  async revokeKey(principal: Principal, id: string): Promise<ApiKeyEntity> {
    requireAdmin(principal);
    const key = await findInProject(this.db, ApiKeyEntity, principal, id);
    if (!key) throw notFound('ApiKey', id);
    if (key.revokedAt) throw conflict(`ApiKey ${id} is already revoked`);
    await revokeApiKey(this.db, id);
    this.revocation?.cache.evictKey(id);
    await this.revocation?.announce(id);
    return this.db.getRepository(ApiKeyEntity).findOneByOrFail({ id });
  }

  /** A new project and its first admin key; only admins of the default project may do this. */
  async createProject(
    principal: Principal,
    name: string,
  ): Promise<{ project: ProjectEntity; adminKey: CreatedKey }> {
    requireAdmin(principal);
    if (!principal.isDefaultProject)
      throw forbidden('only admins of the default project can create projects');
    const checked = checkName(name, ['input', 'name']);
    return this.db.transaction(async (m) => {
      const taken = await m.getRepository(ProjectEntity).existsBy({ name: checked });
      if (taken) throw badInput(`a project named "${checked}" already exists`, ['input', 'name']);
      const project = await insertProject(m, checked);
      const adminKey = await this.insertKey(m, project.id, 'admin', ApiKeyRole.ADMIN);
      return { project, adminKey };
    });
  }

  private async insertKey(
    db: Pick<DataSource, 'getRepository'>,
    projectId: string,
    name: string,
    role: ApiKeyRole,
  ): Promise<CreatedKey> {
    const secret = generateApiKeySecret();
    const apiKey = await insertApiKey(db, {
      projectId,
      name,
      role,
      keyHash: hashApiKey(secret),
      keyPrefix: displayPrefix(secret),
    });
    return { apiKey, secret };
  }
}

function requireAdmin(principal: Principal): void {
  if (principal.role !== ApiKeyRole.ADMIN) throw forbidden('this needs an ADMIN API key');
}
