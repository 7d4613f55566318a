/**
 * `npm start`: the API process. Serves GraphQL over HTTP and WebSocket on one port; on SIGTERM or SIGINT it stops
 * taking requests, lets running ones finish, closes WebSocket clients, the queue, Redis and the database, and exits.
 * With WHETSTONE_API_PROCESSES=N it runs N such processes sharing the port (Node's cluster), to use N cores; they
 * are independent replicas, as API processes on several machines would be.
 */
import 'reflect-metadata';
import cluster from 'node:cluster';
import { createApiApp } from './api/app';
import { loadConfig } from './config';

async function serve(): Promise<void> {
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

/** Forks the replicas, passes signals on, and exits when they have all exited. */
function supervise(processes: number): void {
  for (let i = 0; i < processes; i++) cluster.fork();
  let alive = processes;
  let stopping = false;
  cluster.on('exit', (worker, code) => {
    alive--;
    if (!stopping) {
      console.error(`API process ${worker.process.pid} exited (${code}); starting another`);
      cluster.fork();
      alive++;
    } else if (alive === 0) process.exit(0);
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function main(): void {
  const processes = Number(process.env.WHETSTONE_API_PROCESSES ?? 1);
  if (!Number.isInteger(processes) || processes < 1) {
    console.error(
      `WHETSTONE_API_PROCESSES must be a positive integer, got ${process.env.WHETSTONE_API_PROCESSES}`,
    );
    process.exit(2);
  }
  if (processes > 1 && cluster.isPrimary) {
    supervise(processes);
    return;
  }
  serve().catch((err: unknown) => {
    console.error('whetstone API failed to start:', err);
    process.exit(1);
  });
}

if (require.main === module) main();
