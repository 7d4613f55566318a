/**
 * The API process: Apollo Server over Node's HTTP server with graphql-ws on the same port and path (/graphql),
 * GET /healthz, the web console at `/`, and a `close()` that drains HTTP and WebSocket clients before closing the queue, Redis and the
 * database.
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { GraphQLError, parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
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
import { handleUpload, UPLOAD_PATH } from './datasets/upload';
import { sendErrors, sendJson, toGraphQLRequest, writeGraphQLResponse } from './http';
import { checkInputs, LIMIT_RULES, MAX_BODY_BYTES, PARSE_OPTIONS } from './limits';
import { createLoaders, createRowCaches } from './loaders';
import { secretFromAuthorization } from './projects/api-keys';
import { buildApiSchema } from './schema';
import { createServices, type Services } from './services';
import { CLOSE_TOO_MANY, CLOSE_UNAUTHORIZED, KeySockets } from './sockets';

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

type WsExtra = { principal?: Principal; secret?: string };

/** HTTP status of an error response by its code (client errors before or outside GraphQL execution). */
const STATUS_OF: Record<string, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BODY_TOO_LARGE: 413,
};

/** A GraphQL error without a code (graphql-js's parse and validation errors) given `code`. */
function withCode(err: GraphQLError, code: string): GraphQLError {
  return err.extensions.code
    ? err
    : new GraphQLError(err.message, { nodes: err.nodes, extensions: { ...err.extensions, code } });
}

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
  const generationQueue: TypedQueue<'generation'> = createQueue('generation', config);
  const services = createServices({
    config,
    db,
    trainingQueue,
    evaluationQueue,
    generationQueue,
    publisher,
    subscriber,
  });
  await services.projects.bootstrap(config.bootstrapKey);
  const sockets = new KeySockets(config.wsConnectionsPerKey);
  await subscriber.listen(apiKeyRevokedChannel(config.redisPrefix), (m) => {
    const { apiKeyId } = m as { apiKeyId: string };
    services.keyCache.evictKey(apiKeyId);
    sockets.closeKey(apiKeyId, 'UNAUTHENTICATED: the API key was revoked');
  });
  if (config.importRoot) await mkdir(config.importRoot, { recursive: true });

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
        const socket = ctx.extra.socket;
        if (!principal) {
          socket.close(CLOSE_UNAUTHORIZED, 'UNAUTHENTICATED: missing or invalid API key');
          return false;
        }
        if (!sockets.add(principal.apiKeyId, socket)) {
          socket.close(
            CLOSE_TOO_MANY,
            `TOO_MANY_CONNECTIONS: this key already holds ${config.wsConnectionsPerKey} connections`,
          );
          return false;
        }
        Object.assign(ctx.extra, { principal, secret });
        return true;
      },
      // The door's checks, as for HTTP; the key is checked again, so a revocation this process missed still counts.
      onSubscribe: async (ctx, _id, payload) => {
        const extra = ctx.extra as WsExtra;
        if (!(await services.projects.authenticate(extra.secret as string))) {
          ctx.extra.socket.close(CLOSE_UNAUTHORIZED, 'UNAUTHENTICATED: the API key was revoked');
          return [new GraphQLError('the API key was revoked', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        let document;
        try {
          document = parse(payload.query, PARSE_OPTIONS);
        } catch (err) {
          return [withCode(err as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
        }
        const invalid = validate(schema, document, [...specifiedRules, ...LIMIT_RULES]);
        if (invalid.length) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
        const tooLong = checkInputs(schema, document, payload.operationName, payload.variables);
        if (tooLong) return [tooLong];
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
        };
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
    parseOptions: PARSE_OPTIONS,
    validationRules: LIMIT_RULES,
    plugins: [
      {
        requestDidStart: async () => ({
          didResolveOperation: async ({ schema, document, operationName, request }) => {
            const tooLong = checkInputs(schema, document, operationName, request.variables);
            if (tooLong) throw tooLong;
          },
        }),
      },
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // No HTTP caching of this API; the plugin would otherwise instrument every field resolution.
      ApolloServerPluginCacheControlDisabled(),
      { serverWillStart: async () => ({ drainServer: async () => wsCleanup.dispose() }) },
    ],
  });
  await apollo.start();

  /** The principal of the request's `Authorization` header, or the reason there is none. */
  const principalOf = async (req: IncomingMessage): Promise<Principal | GraphQLError> => {
    const secret = secretFromAuthorization(req.headers.authorization);
    if (!secret) return unauthenticated('send an API key as `Authorization: Bearer <key>`');
    return (
      (await services.projects.authenticate(secret)) ?? unauthenticated('the API key is unknown or revoked')
    );
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

  /** Every route but /healthz: the key is checked before any byte of the body is read. */
  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const principal = await principalOf(req);
    if (principal instanceof GraphQLError) throw principal;
    const archive = req.method === 'GET' ? ARCHIVE_ROUTE.exec(url.pathname) : null;
    if (archive) {
      await serveCheckpointArchive(db, principal, archive[1], res);
      return;
    }
    if (url.pathname === UPLOAD_PATH) {
      await handleUpload(req, res, url, principal, services.datasets, config.uploadMaxBytes);
      return;
    }
    const httpGraphQLRequest = await toGraphQLRequest(req, url, MAX_BODY_BYTES);
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest,
      context: async () => contextFor(principal),
    });
    await writeGraphQLResponse(res, response);
  };

  httpServer.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' && req.method === 'GET') {
      void health().then((r) => sendJson(res, r.status === 'ok' ? 200 : 503, r));
      return;
    }
    const known =
      url.pathname === GRAPHQL_PATH ||
      (url.pathname === UPLOAD_PATH && req.method === 'POST') ||
      (req.method === 'GET' && ARCHIVE_ROUTE.test(url.pathname));
    if (!known && (req.method === 'GET' || req.method === 'HEAD')) {
      void serveConsole(config.consoleDir, url.pathname, req, res);
      return;
    }
    if (!known) {
      sendErrors(
        res,
        404,
        [
          {
            message: `no route ${url.pathname}; the API is at ${GRAPHQL_PATH}`,
            extensions: { code: 'NOT_FOUND' },
          },
        ],
        true,
      );
      return;
    }
    route(req, res, url).catch((err: unknown) => {
      const formatted = formatError(
        err instanceof GraphQLError ? err.toJSON() : { message: String(err) },
        err,
      );
      const code = formatted.extensions?.code as string;
      sendErrors(res, STATUS_OF[code] ?? 500, [formatted], !req.complete);
    });
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
        await generationQueue.close();
        await subscriber.close();
        await redis.quit().catch(() => redis.disconnect());
        await db.destroy();
      })()),
  };
}
