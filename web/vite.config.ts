// Builds the dashboard (web/src) into web/dist, which `arbiter serve` serves (src/server/web.ts).
// Run by `npm run build:web`, itself part of `npm run build` and so of `npm install`.
import { defineConfig } from 'vite';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // One small app: no source maps shipped, no size warnings for uPlot.
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
