// The dashboard (docs/dashboard.md): the single-page app built from web/ into web/dist by
// `npm run build:web` (run by `npm install`), served here as static files. Files are read once
// at start into memory (and compressed once, brotli or gzip, at the first request that accepts
// it), and only those are served (a request names a file of that list, never
// a path on disk). Every page of the app (`/`, `/ui/...`) answers index.html, so a reload or a
// shared link of any view works (the app routes in the browser). The pages carry a Content
// Security Policy that allows this server only: the app makes no request to another host.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, RawServerDefault } from 'fastify';
import type { Logger } from 'pino';

/** web/dist, from src/server (tests) or dist/server (the built command). */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'dist');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  // uPlot and the charts set style attributes; scripts stay 'self' only.
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** The same bytes compressed (a third of the size for the scripts), once, at the first request that accepts it. */
  br?: Buffer;
  gzip?: Buffer;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const folder = path.join(dir, 'assets');
  if (!existsSync(folder)) return assets;
  for (const name of readdirSync(folder)) {
    const type = TYPES[path.extname(name)];
    if (type) assets.set(name, { body: readFileSync(path.join(folder, name)), type });
  }
  return assets;
}

export function registerWeb(app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>, dir = WEB_DIST): void {
  const indexFile = path.join(dir, 'index.html');
  const index = existsSync(indexFile) ? readFileSync(indexFile) : null;
  const assets = loadAssets(dir);
  const page = async (_request: unknown, reply: FastifyReply) => {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (index === null) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(`The dashboard is not built (${indexFile} is missing): run \`npm run build:web\` in the repository, then start the server again. The API works meanwhile (docs/api.md).\n`);
    }
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  app.get('/', page);
  app.get('/ui/*', page);
  app.get('/assets/:file', async (request, reply) => {
    const asset = assets.get((request.params as { file: string }).file);
    if (!asset) return reply.status(404).send({ code: 'not_found', message: 'no such file of the dashboard', issues: [] });
    // Built names carry a content hash: a file never changes under its name.
    void reply.header('cache-control', 'public, max-age=31536000, immutable').header('x-content-type-options', 'nosniff').header('vary', 'accept-encoding').type(asset.type);
    const accepted = String(request.headers['accept-encoding'] ?? '');
    if (asset.body.length < 1024) return reply.send(asset.body);
    if (/\bbr\b/.test(accepted)) {
      asset.br ??= brotliCompressSync(asset.body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: asset.body.length } });
      return reply.header('content-encoding', 'br').send(asset.br);
    }
    if (/\bgzip\b/.test(accepted)) {
      asset.gzip ??= gzipSync(asset.body, { level: 9 });
      return reply.header('content-encoding', 'gzip').send(asset.gzip);
    }
    return reply.send(asset.body);
  });
}
