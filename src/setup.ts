/**
 * `npm run setup`: prepares a database for the API and workers. Applies the migrations, creates the default
 * project (and the bootstrap key, when WHETSTONE_BOOTSTRAP_KEY is set), and registers the built-in demo model (a
 * tiny random LLaMA-style folder written under the data directory) in the default project, so that a first
 * training job can run at once. Safe to run again.
 */
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ServerFiles } from './api/common/server-files';
import { ModelService } from './api/models/service';
import { ProjectService } from './api/projects/service';
import { jobsDir, loadConfig, type Config } from './config';
import { createDataSource, migrateUp } from './db/data-source';
import { ApiKeyRole, BaseModelEntity } from './db/entities';
import { writeDemoModel } from './models/demo';

export const DEMO_MODEL_NAME = 'demo-tiny-llama';

export async function setup(config: Config, log: (line: string) => void = console.log): Promise<void> {
  const db = createDataSource(config, 2);
  try {
    const applied = await migrateUp(db, config.databaseSchema);
    log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema up to date');
    const project = await new ProjectService(db).bootstrap(config.bootstrapKey);
    if (config.bootstrapKey) log('bootstrap key is an ADMIN key of the default project');

    const dir = path.join(config.dataDir, 'models', DEMO_MODEL_NAME);
    if (!existsSync(path.join(dir, 'config.json'))) {
      writeDemoModel(dir);
      log(`wrote the demo model to ${dir}`);
    }
    const registered = await db
      .getRepository(BaseModelEntity)
      .existsBy({ projectId: project.id, name: DEMO_MODEL_NAME });
    if (!registered) {
      const principal = {
        projectId: project.id,
        apiKeyId: '',
        role: ApiKeyRole.ADMIN,
        isDefaultProject: true,
      };
      const model = await new ModelService(
        db,
        new ServerFiles({ importRoot: config.dataDir, jobsDir: jobsDir(config.dataDir) }),
      ).register(principal, { name: DEMO_MODEL_NAME, path: dir });
      log(`registered ${DEMO_MODEL_NAME} (${model.parameterCount} parameters) as model ${model.id}`);
    }
  } finally {
    if (db.isInitialized) await db.destroy();
  }
}

if (require.main === module) {
  setup(loadConfig()).catch((err: unknown) => {
    console.error('setup failed:', err);
    process.exit(1);
  });
}
