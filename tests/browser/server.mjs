// Serves the page (index.html and its bundle, nothing else of this folder) on loopback:
// for `make serve` beside the API, and for the browser test (drive.mjs).
//
//   node tests/browser/server.mjs PORT [QUERY [PID]]
//
// prints the page's URL (QUERY its settings, page.js says which) and serves until stopped, or
// until process PID has exited (`make serve` hands it the emulator's: the page stops with the
// API however the emulator ends, Ctrl-C or not).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** What the page is made of: request path -> [file, content type]. */
const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dist/page.js': ['dist/page.js', 'text/javascript; charset=utf-8'],
  '/dist/page.js.map': ['dist/page.js.map', 'application/json'],
};

/**
 * Serves the page on `port` of 127.0.0.1, and of ::1 where the machine has it (a browser may
 * resolve `localhost` to either). Resolves once listening, to a function that stops it.
 */
export async function servePage(port) {
  const handle = async (request, response) => {
    const path = new URL(request.url, 'http://page').pathname;
    const file = FILES[path];
    if (!file || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      const body = await readFile(join(here, file[0]));
      response.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`${file[0]}: ${error.message}\n`);
    }
  };
  const listen = (host) =>
    new Promise((resolve, reject) => {
      const server = createServer(handle);
      server.once('error', reject).listen(port, host, () => resolve(server));
    });
  const servers = [await listen('127.0.0.1')];
  // A machine without IPv6 has no ::1 (EADDRNOTAVAIL), and 127.0.0.1 is then all `localhost`
  // is; a ::1 port held by another server would get the browser's requests, so it fails.
  await listen('::1').then(
    (server) => servers.push(server),
    (error) => {
      if (error.code === 'EADDRINUSE') {
        servers[0].close();
        throw error;
      }
    },
  );
  return () => Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, query = '', watched] = process.argv.slice(2);
  await servePage(Number(port)).catch((error) => {
    const why =
      error.code === 'EADDRINUSE'
        ? `port ${port} is in use (your own front end on FRONTEND_URL? It is traced the same way)`
        : error.message;
    console.error(`The front end's page is not served: ${why}`);
    process.exit(1);
  });
  const otlp = new URLSearchParams(query).get('otlp');
  console.log(`Front end's home page, traced in the browser: http://localhost:${port}/${query ? `?${query}` : ''}`);
  console.log(`  its spans go to ${otlp ?? "the browser's console (no OTLP/HTTP collector on loopback)"}; the functions continue its trace`);
  if (watched) {
    const alive = () => {
      try {
        process.kill(Number(watched), 0);
        return true;
      } catch {
        return false;
      }
    };
    // Closing waits for idle keep-alive connections; the page is done with once the API is.
    const timer = setInterval(() => alive() || (clearInterval(timer), process.exit(0)), 1000);
  }
}
