// The home feed of the Cruddur front end, traced with the OpenTelemetry web SDK: the page's
// load (document-load instrumentation) and its call to the API (fetch instrumentation), whose
// `traceparent` and `tracestate` the function continues (W3C Trace Context). The API is on
// another origin, so the browser asks it first (a CORS preflight) whether those headers may be
// sent, and reads the trace the function joined back from `traceresponse`, which the API
// exposes.
//
// Settings come from the page's query string, so one static build serves `make serve` and the
// browser test:
//   api   the API's base URL, the stage's path included when deployed
//         (https://ID.execute-api.REGION.amazonaws.com/prod; default http://127.0.0.1:4567,
//         make serve's)
//   otlp  an OTLP/HTTP traces endpoint, for example http://127.0.0.1:4318/v1/traces; it must
//         answer CORS for this page's origin. Without it the spans go to the browser's console.

import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  StackContextManager,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The page's service name, as `service.name` on every span it sends. */
const SERVICE_NAME = 'cruddur-frontend';

const settings = new URLSearchParams(location.search);
const api = (settings.get('api') ?? 'http://127.0.0.1:4567').replace(/\/+$/, '');
const apiOrigin = new URL(api).origin;
const otlp = settings.get('otlp');

/**
 * Samples every span and says so in a new trace's `tracestate` the way OpenTelemetry's
 * probability sampling does (the `ot` vendor key, sub-key `th`, the rejection threshold:
 * "th:0" is "100% sampling probability"), so that whoever continues the trace knows the
 * browser kept all of it. A child span carries its parent's tracestate on unchanged.
 */
const alwaysOnWithThreshold = {
  shouldSample(parentContext) {
    const parent = trace.getSpanContext(parentContext);
    if (parent) {
      return { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: parent.traceState };
    }
    return { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: new TraceState('ot=th:0') };
  },
  toString: () => 'AlwaysOnWithThreshold{th:0}',
};

/**
 * Keeps count of the spans still open, so the page can send its spans once all have ended:
 * the fetch instrumentation ends its span a little after the response, once the browser's
 * resource timing for the request is in.
 */
const openSpans = {
  count: 0,
  onStart() {
    this.count += 1;
  },
  onEnd() {
    this.count -= 1;
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/** Resolves once every span has ended, or after `limitMs` whatever is still open. */
async function spansEnded(limitMs = 5000) {
  for (const start = Date.now(); openSpans.count > 0 && Date.now() - start < limitMs; ) {
    await new Promise((wait) => setTimeout(wait, 20));
  }
}

const exporter = otlp ? new OTLPTraceExporter({ url: otlp }) : new ConsoleSpanExporter();
const provider = new TracerProvider({
  // The SDK's own attributes (telemetry.sdk.*) kept, the service named.
  resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: SERVICE_NAME })),
  sampler: alwaysOnWithThreshold,
  spanProcessors: [
    openSpans,
    otlp ? new BatchSpanProcessor({ exporter }) : new SimpleSpanProcessor({ exporter }),
  ],
});
trace.setGlobalTracerProvider(provider);
// Only synchronous parenting is needed (the fetch is started inside its parent span's
// callback), so the SDK's own context manager does, without zone.js patching the page.
context.setGlobalContextManager(new StackContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
registerInstrumentations({
  instrumentations: [
    new DocumentLoadInstrumentation(),
    new FetchInstrumentation({
      // The trace headers go to the API's origin only: another origin would see them too,
      // and would refuse a request whose preflight names headers it does not allow.
      propagateTraceHeaderCorsUrls: [new RegExp(`^${escapeRegExp(apiOrigin)}/`)],
      ignoreUrls: otlp ? [otlp] : [],
    }),
  ],
});

const tracer = trace.getTracer(SERVICE_NAME);
const feed = document.getElementById('feed');
const status = document.getElementById('status');
const footer = document.getElementById('trace');

/** One activity, and its replies under it. */
function renderActivity(activity, isReply = false) {
  const article = document.createElement('article');
  if (isReply) article.className = 'reply';
  const handle = document.createElement('span');
  handle.className = 'handle';
  handle.textContent = `@${activity.handle}`;
  const message = document.createElement('p');
  message.textContent = activity.message;
  const counts = document.createElement('span');
  counts.className = 'counts';
  counts.textContent = `${activity.replies_count} replies · ${activity.reposts_count} reposts · ${activity.likes_count} likes`;
  article.append(handle, message, counts);
  feed.append(article);
  for (const reply of activity.replies ?? []) renderActivity(reply, true);
}

/**
 * Fetches the home feed inside a span of the page's own, so that the fetch span (its child)
 * and, through `traceparent`, the function's spans hang under it in one trace.
 */
async function loadHomeFeed() {
  await tracer.startActiveSpan('load home feed', { kind: SpanKind.INTERNAL }, async (span) => {
    try {
      const response = await fetch(`${api}/api/activities/home`);
      // `traceresponse` is readable only because the API exposes it (CORS); it names the
      // trace and the span the function served this request in.
      const traceresponse = response.headers.get('traceresponse');
      footer.dataset.traceresponse = traceresponse ?? '';
      footer.replaceChildren(
        'Served in trace ',
        Object.assign(document.createElement('code'), {
          textContent: traceresponse ? traceresponse.split('-')[1] : '(no traceresponse readable)',
        }),
      );
      if (!response.ok) throw new Error(`the API answered ${response.status}`);
      const activities = await response.json();
      activities.forEach((activity) => renderActivity(activity));
      status.textContent = `${activities.length} activities`;
    } catch (error) {
      // A refused preflight reaches the page as a bare TypeError ("Failed to fetch"): the
      // browser tells the page nothing more, the console says which header or origin.
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      status.textContent =
        `Could not load the home feed from ${api}: ${error}. ` +
        `The API allows the origins of its FRONTEND_URL only (this page is ${location.origin}); ` +
        "the browser's console says what it refused.";
      status.className = 'failed';
    } finally {
      span.end();
    }
  });
  // The document-load spans end in a task queued on the load event; the spans leave after
  // them rather than when the batch timer fires (the browser test waits for it).
  if (document.readyState !== 'complete') {
    await new Promise((loaded) => window.addEventListener('load', loaded, { once: true }));
  }
  await new Promise((queued) => setTimeout(queued, 0));
  await spansEnded();
  // A backend that refuses or is unreachable costs the page nothing but this warning.
  await provider
    .forceFlush()
    .catch((errors) => console.warn('the page could not send its spans:', ...[errors].flat().map((e) => e?.stack ?? String(e))));
  document.body.dataset.state = 'done';
}

loadHomeFeed();
