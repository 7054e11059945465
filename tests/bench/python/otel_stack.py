"""The original's week-2 stack (reference: cruddur-week2.md), as a Lambda handler: the
OpenTelemetry SDK with a batch span processor and the OTLP/HTTP exporter, configured through
the standard variables and flushed at the end of every invocation (Lambda freezes the
process after the return, so an unflushed batch would wait for the next invocation or be
lost); aws-xray-sdk with a subsegment per route and metadata; a logger writing to the
console and to CloudWatch Logs group `cruddur` through watchtower, flushed per invocation
for the same reason; Rollbar initialised with the token, an environment and the code root,
reporting unhandled exceptions."""

import logging
import os
import time
from datetime import datetime, timezone

import rollbar
import watchtower
from aws_xray_sdk.core import xray_recorder
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import cruddur_mock

# OpenTelemetry: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT from the environment.
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer(__name__)

# X-Ray: the daemon address from AWS_XRAY_DAEMON_ADDRESS; the segment is Lambda's.
xray_recorder.configure(service="backend-flask", context_missing="LOG_ERROR")

# CloudWatch Logs: the console and the group `cruddur` (AWS_ENDPOINT_URL points at moto).
LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.DEBUG)
console_handler = logging.StreamHandler()
cw_handler = watchtower.CloudWatchLogHandler(log_group_name="cruddur")
LOGGER.addHandler(console_handler)
LOGGER.addHandler(cw_handler)

# Rollbar.
rollbar.init(
    os.environ["ROLLBAR_ACCESS_TOKEN"],
    environment="production",
    root=os.path.dirname(os.path.realpath(__file__)),
    allow_logging_basic_config=False,
    endpoint=os.environ["ROLLBAR_ENDPOINT"],
)


def handler(event, context):
    try:
        with tracer.start_as_current_span(
            "GET /api/activities/home", kind=trace.SpanKind.SERVER
        ) as server_span:
            server_span.set_attribute("http.request.method", event.get("httpMethod", ""))
            server_span.set_attribute("url.path", event.get("path", ""))
            subsegment = xray_recorder.begin_subsegment("activities_home")
            try:
                now = datetime.now(timezone.utc)
                with tracer.start_as_current_span("home-activities-mock-data") as span:
                    span.set_attribute("app.now", now.isoformat())
                    results = cruddur_mock.home_activities(now)
                    span.set_attribute("app.result_length", len(results))
                subsegment.put_metadata("now", now.isoformat(), "app")
                subsegment.put_metadata("results-size", len(results), "app")
                LOGGER.info("Hello Cloudwatch! from /api/activities/home")
                server_span.set_attribute("http.response.status_code", 200)
            finally:
                xray_recorder.end_subsegment()
        LOGGER.info(
            "%s %s GET https %s 200",
            time.strftime("[%Y-%b-%d %H:%M]"),
            event.get("requestContext", {}).get("identity", {}).get("sourceIp", ""),
            event.get("path", ""),
        )
        return cruddur_mock.response(results)
    except Exception:
        rollbar.report_exc_info()
        raise
    finally:
        provider.force_flush()
        cw_handler.flush()
