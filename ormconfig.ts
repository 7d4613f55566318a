/**
 * The data source the TypeORM CLI and `npm run migrate` use, configured from the environment
 * (DATABASE_URL, WHETSTONE_DB_SCHEMA).
 */
import 'reflect-metadata';
import { loadConfig } from './src/config';
import { createDataSource } from './src/db/data-source';

export default createDataSource(loadConfig());
