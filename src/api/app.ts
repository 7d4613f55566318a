/**
 * The API process: Apollo Server over Node's HTTP server with graphql-ws on the same port and path (/graphql),
 * GET /healthz, the web console at `/`, and a `close()` that drains HTTP and WebSocket clients before closing the queue, Redis and the
 * database.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { GraphQLError, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import { WebSocketServer } from 'ws';
import type { Config } from '../config';
import { createDataSource } from '../db/data-source';
import { apiKeyRevokedChannel } from '../queue/events';
import { EventPublisher } from '../queue/publisher';
import { createQueue, type TypedQueue } from '../queue/queues';
import { ChannelSubscriber } from '../queue/subscriber';
import { ARCHIVE_ROUTE, serveCheckpointArchive } from './checkpoints/archive';
import type { Principal, RequestContext } from './context';
import { serveConsole } from './console-files';
import { formatError, unauthenticated } from './errors';
import { BodyTooLargeError, sendJson, toGraphQLRequest, writeGraphQLResponse } from './http';
import { createLoaders, createRowCaches } from './loaders';
import { secretFromAuthorization } from './projects/api-keys';
import { buildApiSchema } from './schema';
import { createServices, type Services } from './services';

export const GRAPHQL_PATH = '/graphql';

export interface ApiApp {
  httpServer: Server;
  services: Services;
  db: DataSource;
  /** Listens on the configured host and port (0: any free port); resolves to the bound port. */
  listen(): Promise<number>;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

type WsExtra = { principal?: Principal };

export interface HealthReport {
  status: 'ok' | 'degraded';
  postgres: string;
  redis: string;
}

const HEALTH_TIMEOUT_MS = 2000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref()),
  ]);
}

export async function createApiApp(config: Config): Promise<ApiApp> {
  const db = createDataSource(config);
  await db.initialize();
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  // Reconnection is automatic; /healthz reports an outage.
  redis.on('error', (err: Error) => console.error(`redis: ${err.message}`));
  const subscriber = new ChannelSubscriber(new Redis(config.redisUrl));
  const publisher = new EventPublisher(redis, config.redisPrefix);
  const trainingQueue: TypedQueue<'training'> = createQueue('training', config);
  const evaluationQueue: TypedQueue<'evaluation'> = createQueue('evaluation', config);
  const services = createServices({ config, db, trainingQueue, evaluationQueue, publisher, subscriber });
  await services.projects.bootstrap(config.bootstrapKey);
  await subscriber.listen(apiKeyRevokedChannel(config.redisPrefix), (m) =>
    services.keyCache.evictKey((m as { apiKeyId: string }).apiKeyId),
  );

  const schema: GraphQLSchema = await buildApiSchema();
  const httpServer = createServer();
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH });

  const rowCaches = createRowCaches();
  const contextFor = (principal: Principal): RequestContext => ({
    principal,
    services,
    loaders: createLoaders(db, rowCaches, principal.projectId),
  });

  const wsCleanup = useServer<Record<string, unknown>, WsExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        const secret = secretFromAuthorization(ctx.connectionParams?.authorization, true);
        const principal = secret ? await services.projects.authenticate(secret) : null;
        if (!principal) {
          ctx.extra.socket.close(4401, 'UNAUTHENTICATED: missing or invalid API key');
          return false;
        }
        (ctx.extra as WsExtra).principal = principal;
        return true;
      },
      context: (ctx) => contextFor((ctx.extra as WsExtra).principal as Principal),
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) }
          : undefined,
    },
    wsServer,
  );

  const apollo = new ApolloServer<RequestContext>({
    schema,
    includeStacktraceInErrorResponses: false,
    // server.ts handles SIGTERM/SIGINT; Apollo's own handlers would race it and stall the drain.
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => formatError(formatted, error),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // No HTTP caching of this API; the plugin would otherwise instrument every field resolution.
      ApolloServerPluginCacheControlDisabled(),
      { serverWillStart: async () => ({ drainServer: async () => wsCleanup.dispose() }) },
    ],
  });
  await apollo.start();

  const authenticate = async (req: IncomingMessage): Promise<RequestContext> => {
    const secret = secretFromAuthorization(req.headers.authorization);
    if (!secret) throw unauthenticated('send an API key as `Authorization: Bearer <key>`');
    const principal = await services.projects.authenticate(secret);
    if (!principal) throw unauthenticated('the API key is unknown or revoked');
    return contextFor(principal);
  };

  const health = async (): Promise<HealthReport> => {
    const [pg, rd] = await Promise.allSettled([
      withTimeout(db.query('SELECT 1'), HEALTH_TIMEOUT_MS),
      withTimeout(redis.ping(), HEALTH_TIMEOUT_MS),
    ]);
    const show = (r: PromiseSettledResult<unknown>) =>
      r.status === 'fulfilled' ? 'ok' : String(r.reason?.message ?? r.reason);
    const report = { postgres: show(pg), redis: show(rd) };
    return { status: report.postgres === 'ok' && report.redis === 'ok' ? 'ok' : 'degraded', ...report };
  };

  httpServer.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' && req.method === 'GET') {
      void health().then((r) => sendJson(res, r.status === 'ok' ? 200 : 503, r));
      return;
    }
    const archive = req.method === 'GET' ? ARCHIVE_ROUTE.exec(url.pathname) : null;
    if (archive) {
      void authenticate(req)
        .then((ctx) => serveCheckpointArchive(db, ctx.principal, archive[1], res))
        .catch((err: unknown) => {
          if (res.headersSent) return void res.destroy();
          const code = (err as GraphQLError).extensions?.code;
          if (code === 'UNAUTHENTICATED')
            sendJson(res, 401, { errors: [{ message: (err as Error).message, extensions: { code } }] });
          else {
            console.error('checkpoint archive failed', err);
            sendJson(res, 500, { errors: [{ message: 'Internal server error' }] });
          }
        });
      return;
    }
    if (url.pathname !== GRAPHQL_PATH) {
      if (req.method === 'GET' || req.method === 'HEAD')
        void serveConsole(config.consoleDir, url.pathname, req, res);
      else sendJson(res, 404, { error: `no route ${url.pathname}; the API is at ${GRAPHQL_PATH}` });
      return;
    }
    void (async () => {
      try {
        const httpGraphQLRequest = await toGraphQLRequest(req, url);
        const response = await apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest,
          context: () => authenticate(req),
        });
        await writeGraphQLResponse(res, response);
      } catch (err) {
        if (err instanceof BodyTooLargeError) sendJson(res, 413, { errors: [{ message: err.message }] });
        else {
          console.error('request failed', err);
          if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error' }] });
          else res.end();
        }
      }
    })();
  });

  let closing: Promise<void> | undefined;
  return {
    httpServer,
    services,
    db,
    listen: () =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () =>
          resolve((httpServer.address() as AddressInfo).port),
        );
      }),
    close: () =>
      (closing ??= (async () => {
        await apollo.stop();
        wsServer.close();
        if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
        await trainingQueue.close();
        await evaluationQueue.close();
        await subscriber.close();
        await redis.quit().catch(() => redis.disconnect());
        await db.destroy();
      })()),
  };
}
