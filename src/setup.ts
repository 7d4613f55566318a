/**
 * `npm run setup`: prepares a database for the API and workers. Applies the migrations, creates the default
 * project (and the bootstrap key, when WHETSTONE_BOOTSTRAP_KEY is set), and registers the built-in demo model (a
 * tiny LLaMA-style folder under the data directory, pre-trained at the first setup: src/training/demo-model.ts) in
 * the default project, so that a first training job can run at once and learns visibly. Safe to run again.
 */
import 'reflect-metadata';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ServerFiles } from './api/common/server-files';
import { ModelService } from './api/models/service';
import { ProjectService } from './api/projects/service';
import { jobsDir, loadConfig, type Config } from './config';
import { createDataSource, migrateUp } from './db/data-source';
import { ApiKeyRole, BaseModelEntity } from './db/entities';
import { setRecommendedHyperparameters } from './db/store/base-models';
import { DEMO_RECOMMENDED, writePretrainedDemoModel, writeRecommendations } from './training/demo-model';
import { readRecommendations } from './training/hyperparameters/recommended';

export const DEMO_MODEL_NAME = 'demo-tiny-llama';

export async function setup(
  config: Config,
  log: (line: string) => void = console.log,
  /** Writes the demo model folder (tests pass the random one, which needs no pre-training). */
  writeDemoModel: (dir: string) => Promise<unknown> = (dir) =>
    writePretrainedDemoModel(dir, {
      onStep: (step, total, loss) => {
        if (step === 1 || step % 50 === 0 || step === total)
          log(`  pre-training step ${step}/${total}: loss ${loss.toFixed(3)}`);
      },
    }),
): Promise<void> {
  const db = createDataSource(config, 2);
  try {
    const applied = await migrateUp(db, config.databaseSchema);
    log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema up to date');
    const project = await new ProjectService(db).bootstrap(config.bootstrapKey);
    if (config.bootstrapKey) log('bootstrap key is an ADMIN key of the default project');

    const dir = path.join(config.dataDir, 'models', DEMO_MODEL_NAME);
    if (!existsSync(path.join(dir, 'config.json'))) {
      log(`pre-training the demo model (about a minute on two cores) into ${dir}`);
      // Written aside and moved in whole, so an interrupted setup starts over rather than keeping half a model.
      const partial = `${dir}.partial`;
      rmSync(partial, { recursive: true, force: true });
      await writeDemoModel(partial);
      rmSync(dir, { recursive: true, force: true });
      renameSync(partial, dir);
      log(`wrote the demo model to ${dir}`);
    }
    // A demo folder written before the demo model recommended its hyperparameters gets them, and so does its row.
    const configFile = path.join(dir, 'config.json');
    const recommendations = () => readRecommendations(JSON.parse(readFileSync(configFile, 'utf8')));
    let recommended = recommendations();
    if (recommended === null) {
      writeRecommendations(dir, DEMO_RECOMMENDED);
      recommended = recommendations()!;
      log(`added the recommended hyperparameters to ${configFile}`);
    }
    const registered = await db
      .getRepository(BaseModelEntity)
      .findOneBy({ projectId: project.id, name: DEMO_MODEL_NAME });
    if (registered && registered.recommendedHyperparameters === null) {
      await setRecommendedHyperparameters(db.manager, registered.id, recommended);
    }
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
