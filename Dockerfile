# The production image: compiled JavaScript on Node 20, no dev tools, migrations as their own step.
# README "Deploy" says how to run it; test/e2e/deploy-build.test.ts runs these RUN and CMD lines, in
# this order, in a fresh copy of the tree (no Docker engine is needed for that check).
FROM node:20-bookworm-slim
WORKDIR /app
# dependencies first, so that a change of source reuses this layer; no install scripts (the embedded
# Postgres and the native msgpack speed-up are for developers' machines; BullMQ falls back to JS)
COPY package.json package-lock.json ./
# the producer is a workspace package of its own: npm ci needs its manifest to link it
COPY packages/producer/package.json packages/producer/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund
ENV NODE_ENV=production MIGRATE=off PORT=3000
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# ROLES picks the process's part (api, worker, scheduler); `node dist/src/migrate.js` is the deploy step
CMD ["node", "dist/src/main.js"]
