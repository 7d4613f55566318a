# Whetstone API and worker image (the same image runs either: see docker-compose.yml).
# Build stage: all dependencies, compile TypeScript, then drop the dev dependencies.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node's install script would download the CUDA provider from NuGet; CPU and WebGPU are bundled.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY src ./src
COPY migrations ./migrations
COPY bench ./bench
COPY schema ./schema
COPY console ./console
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled code and production dependencies only, as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production WHETSTONE_DATA_DIR=/data PORT=4000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/schema ./schema
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/server.js"]
