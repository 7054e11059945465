// The browser test's driver: serves the page, opens it in headless Chromium once per visit,
// and prints on stdout, as one JSON document, what the page showed and what the browser sent
// and received on the network (CORS preflights included, which a page's script never sees).
// The assertions are the Rust test's (tests/tests/a_browsers_trace_continues_through_the_function.rs).
//
//   node tests/browser/drive.mjs '{"chromium": "/usr/bin/chromium", "pagePort": 40123,
//     "screenshot": "target/browser/home-feed.png",
//     "visits": [{"name": "home", "page": "http://localhost:40123/?api=...&otlp=..."}]}'
//
// Each visit has a browser context of its own: no cache, no preflight remembered from another.

import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

import puppeteer from 'puppeteer-core';

import { servePage } from './server.mjs';

/** How long a visit may take until the page says it is done: the first request to a
 * function under `cargo lambda watch` starts it. */
const VISIT_TIMEOUT_MS = 120_000;

const config = JSON.parse(process.argv[2]);
const stopServing = await servePage(config.pagePort);
const browser = await puppeteer.launch({
  executablePath: config.chromium,
  headless: true,
  // Root in CI has no user namespace for Chromium's sandbox; the pages are our own.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

/** Header names in lower case (CDP gives them as sent, any case). */
const lowerCase = (headers = {}) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

async function visit({ name, page: url }, screenshot) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  const requests = new Map();
  const record = (id) => {
    if (!requests.has(id)) requests.set(id, { requestHeaders: {}, responseHeaders: {} });
    return requests.get(id);
  };
  // What the browser itself sent and received, preflights included: the *ExtraInfo events
  // carry the headers as they went on the wire (`traceparent` added by the page's script,
  // `access-control-request-headers` by the browser).
  cdp.on('Network.requestWillBeSent', ({ requestId, request, type }) => {
    Object.assign(record(requestId), { url: request.url, method: request.method, type });
    Object.assign(record(requestId).requestHeaders, lowerCase(request.headers));
  });
  cdp.on('Network.requestWillBeSentExtraInfo', ({ requestId, headers }) => {
    Object.assign(record(requestId).requestHeaders, lowerCase(headers));
  });
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    record(requestId).status = response.status;
    Object.assign(record(requestId).responseHeaders, lowerCase(response.headers));
  });
  cdp.on('Network.responseReceivedExtraInfo', ({ requestId, statusCode, headers }) => {
    record(requestId).status ??= statusCode;
    Object.assign(record(requestId).responseHeaders, lowerCase(headers));
  });
  cdp.on('Network.loadingFailed', ({ requestId, errorText, corsErrorStatus }) => {
    Object.assign(record(requestId), { failed: errorText, corsError: corsErrorStatus?.corsError });
  });
  const console = [];
  page.on('console', (message) => console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => console.push(`pageerror: ${error.message ?? error} ${error.stack ?? JSON.stringify(error)}`));

  await page.goto(url);
  // A page that never says it is done is reported with what it showed and logged, for the
  // test to fail on with the reason, rather than as a bare timeout.
  const done = await page
    .waitForFunction(() => document.body.dataset.state === 'done', { timeout: config.timeoutMs ?? VISIT_TIMEOUT_MS })
    .then(() => true, () => false);
  const shown = await page.evaluate(() => ({
    status: document.getElementById('status').textContent,
    activities: document.querySelectorAll('#feed article:not(.reply)').length,
    traceresponse: document.getElementById('trace').dataset.traceresponse ?? null,
  }));
  if (screenshot) {
    await mkdir(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  await context.close();
  const pageOrigin = new URL(url).origin;
  const network = [...requests.values()].filter((r) => r.url && new URL(r.url).origin !== pageOrigin);
  return { name, page: url, done, ...shown, network, console };
}

const results = { browser: await browser.version(), visits: [] };
try {
  for (const [index, planned] of config.visits.entries()) {
    results.visits.push(await visit(planned, index === 0 ? config.screenshot : undefined));
  }
} finally {
  await browser.close();
  await stopServing();
}
process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
