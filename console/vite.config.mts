import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// `npm run build` writes the console to dist/console, which the API serves at `/`. `npm run console:dev` serves
// it with hot reload and passes /graphql (HTTP and WebSocket) on to an API on port 4000 (or WHETSTONE_API).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: { outDir: '../dist/console', emptyOutDir: true, chunkSizeWarningLimit: 300 },
  server: {
    proxy: { '/graphql': { target: process.env.WHETSTONE_API ?? 'http://127.0.0.1:4000', ws: true } },
  },
});
