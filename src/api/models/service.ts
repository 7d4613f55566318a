/** Registered base models: a model folder is inspected once, at registration, and its facts stored. */
import type { DataSource } from 'typeorm';
import { BaseModelEntity } from '../../db/entities';
import { insertBaseModel } from '../../db/store/base-models';
import { UserInputError } from '../../errors';
import { findInProject } from '../common/ids';
import { checkName } from '../common/names';
import type { ServerFiles } from '../common/server-files';
import type { Principal } from '../context';
import { isUniqueViolation } from '../common/db-errors';
import { badInput, notFound } from '../errors';
import { inspectModelFolder } from './inspect';

export class ModelService {
  constructor(
    private readonly db: DataSource,
    private readonly files: ServerFiles,
  ) {}

  list(principal: Principal): Promise<BaseModelEntity[]> {
    return this.db
      .getRepository(BaseModelEntity)
      .find({ where: { projectId: principal.projectId }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  async get(principal: Principal, id: string): Promise<BaseModelEntity> {
    const model = await this.find(principal, id);
    if (!model) throw notFound('BaseModel', id);
    return model;
  }

  async find(principal: Principal, id: string): Promise<BaseModelEntity | null> {
    return findInProject(this.db, BaseModelEntity, principal, id);
  }

  async register(principal: Principal, input: { name: string; path: string }): Promise<BaseModelEntity> {
    const name = checkName(input.name, ['input', 'name']);
    let facts;
    try {
      facts = await inspectModelFolder(this.files, input.path);
    } catch (err) {
      if (err instanceof UserInputError) throw badInput(err.message, ['input', 'path']);
      throw err;
    }
    try {
      return await insertBaseModel(this.db, { projectId: principal.projectId, name, ...facts });
    } catch (err) {
      if (isUniqueViolation(err))
        throw badInput(`a model named "${name}" is already registered`, ['input', 'name']);
      throw err;
    }
  }
}
