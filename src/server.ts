/**
 * `npm start`: the API process. Serves GraphQL over HTTP and WebSocket on one port; on SIGTERM or SIGINT it stops
 * taking requests, lets running ones finish, closes WebSocket clients, the queue, Redis and the database, and exits.
 */
import 'reflect-metadata';
import { createApiApp } from './api/app';
import { loadConfig } from './config';

export async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createApiApp(config);
  const port = await app.listen();
  console.log(`whetstone API listening on http://${config.host}:${port}/graphql (health: /healthz)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining`);
    const force = setTimeout(() => {
      console.error('shutdown grace period over; exiting');
      process.exit(1);
    }, config.shutdownGraceSeconds * 1000).unref();
    app.close().then(
      () => {
        clearTimeout(force);
        process.exit(0);
      },
      (err: unknown) => {
        console.error('shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error('whetstone API failed to start:', err);
    process.exit(1);
  });
}
