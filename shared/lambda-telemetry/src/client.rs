//! Outgoing HTTP, traced: the counterpart of the original's `requests` instrumentation.
//!
//! [`http_client`] is a reqwest client with the [`TraceRequests`] middleware
//! (reqwest-middleware, so retry or other middleware compose with it). Every request runs in a
//! CLIENT span named by its method, with the OpenTelemetry HTTP client attributes, and carries:
//! - `traceparent` (version `00`, with the random flag of the caller's trace) and
//!   `tracestate` (the caller's whole list, cut to 512 characters), written by the W3C
//!   grammar of [`tracecontext`](crate::tracecontext), for OpenTelemetry;
//! - `X-Amzn-Trace-Id` with the Lambda X-Ray trace as `Root` and the client span as `Parent`,
//!   so an X-Ray-traced service downstream joins the trace the X-Ray exporter writes.
//!
//! Headers are never recorded; the URL is recorded without user info and with secret-looking
//! query values masked.

use std::time::Instant;

use http::Extensions;
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::propagation::xray_header;
use crate::redact::redact_query;
use crate::tracecontext::{TraceParent, TraceStateList};

/// A reqwest client whose requests are traced: each is a CLIENT span and carries `traceparent`,
/// `tracestate` and `X-Amzn-Trace-Id` (see the crate documentation).
///
/// ```no_run
/// # async fn example() -> Result<(), reqwest_middleware::Error> {
/// let client = lambda_telemetry::http_client();
/// let answer = client.get("https://example.com/api").send().await?;
/// # Ok(()) }
/// ```
pub fn http_client() -> ClientWithMiddleware {
    ClientBuilder::new(crate::transport::shared_client())
        .with(TraceRequests)
        .build()
}

/// The middleware behind [`http_client`], for a client built with other middleware.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceRequests;

#[async_trait::async_trait]
impl Middleware for TraceRequests {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let url = request.url();
        let span = tracing::info_span!(
            target: "lambda_telemetry::client",
            "http_client",
            otel.name = request.method().as_str(),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = request.method().as_str(),
            server.address = url.host_str(),
            server.port = url.port_or_known_default(),
            url.full = display_url(url),
            http.response.status_code = Empty,
            error.type = Empty,
        );
        inject(&span, request.headers_mut());
        let started = Instant::now();
        let result = next.run(request, extensions).instrument(span.clone()).await;
        match &result {
            Ok(response) => {
                let status = response.status();
                span.record("http.response.status_code", i64::from(status.as_u16()));
                // For a client every 4xx and 5xx is a failure of the call.
                if status.is_client_error() || status.is_server_error() {
                    span.record("error.type", status.as_str());
                    span.record("otel.status_code", "error");
                }
            }
            Err(error) => {
                span.record("error.type", error_type(error));
                span.record("otel.status_code", "error");
                span.in_scope(|| {
                    tracing::warn!(
                        target: "lambda_telemetry::client",
                        error = %describe(error),
                        duration_ms = started.elapsed().as_secs_f64() * 1e3,
                        "outgoing request failed"
                    );
                });
            }
        }
        result
    }
}

/// The URL as recorded: no user name or password, secret-looking query values masked.
fn display_url(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(query) = url.query().filter(|q| !q.is_empty()).map(redact_query) {
        url.set_query(Some(&query));
    }
    url.set_fragment(None);
    url.to_string()
}

/// What went wrong, without the URL reqwest's own message carries (its query may hold a key).
fn describe(error: &reqwest_middleware::Error) -> String {
    match error {
        reqwest_middleware::Error::Reqwest(e) => std::error::Error::source(e)
            .map_or_else(|| error_type(error).to_owned(), ToString::to_string),
        reqwest_middleware::Error::Middleware(e) => e.to_string(),
    }
}

fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(_) => "request",
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}

/// Writes the trace headers for the client `span` into `headers`.
fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let cx = span.context();
    let client = cx.span().span_context().clone();
    // Ours, not `TraceContextPropagator::inject_context` (opentelemetry_sdk 0.33.1): it writes
    // the sampled flag alone, losing the caller's random flag, and the SDK's trace state,
    // which cannot hold every valid list.
    let (traceparent, tracestate) = crate::invocation::scope::with_caller_trace(|caller| {
        (
            TraceParent::outgoing(&client, caller),
            TraceStateList::outgoing(&client, caller),
        )
    });
    let Some(traceparent) = traceparent.and_then(|t| HeaderValue::from_str(&t.to_string()).ok())
    else {
        // No OpenTelemetry layer is installed: there is no trace to continue.
        return;
    };
    headers.insert("traceparent", traceparent);
    match tracestate.and_then(|s| HeaderValue::from_str(&s).ok()) {
        Some(value) => headers.insert("tracestate", value),
        None => headers.remove("tracestate"),
    };
    // X-Ray's trace is the Lambda's when there is one (it differs from the OpenTelemetry trace
    // when a browser's traceparent continues); the parent is this client span either way.
    // `Sampled` is X-Ray's decision for this invocation, by the rule its own spans follow:
    // Lambda's flag, or the OpenTelemetry decision when Lambda gave none.
    let lambda = crate::invocation::scope::lambda_xray_context();
    let trace_id = lambda.map_or(client.trace_id(), |lambda| lambda.trace_id);
    let sampled = crate::sampling::XrayTrace::exports(lambda.as_ref(), client.is_sampled());
    let xray = SpanContext::new(
        trace_id,
        client.span_id(),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        false,
        Default::default(),
    );
    if let Some(value) = xray_header(&xray).and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert("x-amzn-trace-id", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::tests::{event, serve_request};
    use lambda_http::RequestExt as _;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    #[test]
    fn urls_are_recorded_without_credentials_or_secret_values() {
        let url = "https://user:pass@api.example.com/x?token=abc&page=2#frag"
            .parse()
            .unwrap();
        let shown = display_url(&url);
        assert!(
            !shown.contains("user") && !shown.contains("pass"),
            "{shown}"
        );
        assert!(!shown.contains("abc") && !shown.contains("frag"), "{shown}");
        assert!(shown.contains("page=2"), "{shown}");
    }

    /// One HTTP/1.1 request read on loopback; its header lines are sent back through `tx`.
    fn one_request_server() -> (String, mpsc::Receiver<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/downstream", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                lines.push(line.trim().to_ascii_lowercase());
            }
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            tx.send(lines).unwrap();
        });
        (url, rx)
    }

    fn header<'a>(lines: &'a [String], name: &str) -> &'a str {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {lines:#?}"))
    }

    #[test]
    fn requests_carry_the_browser_trace_and_the_lambda_xray_trace() {
        let (url, headers) = one_request_server();
        let mut context = lambda_http::Context::default();
        context.xray_trace_id = Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        );
        let mut request = event().with_lambda_context(context);
        let headers_in = request.headers_mut();
        headers_in.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        headers_in.insert("tracestate", "rojo=00f067aa0ba902b7".parse().unwrap());
        let handler = tower::service_fn(move |_: lambda_http::Request| {
            let url = url.clone();
            async move {
                let answer = http_client().get(url).send().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(answer.status().to_string())
            }
        });
        let (_, lines) = serve_request(handler, request);
        let sent = headers.recv().unwrap();

        let traceparent = header(&sent, "traceparent");
        assert!(
            traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceparent}"
        );
        let client_span = &traceparent[36..52];
        assert_eq!(header(&sent, "tracestate"), "rojo=00f067aa0ba902b7");
        assert_eq!(
            header(&sent, "x-amzn-trace-id"),
            format!("root=1-5759e988-bd862e3fe1be46a994272793;parent={client_span};sampled=1")
        );
        // The server span is not the client span: the client span is its child.
        let server_span = lines[0]["span_id"].as_str().unwrap();
        assert_ne!(server_span, client_span);
    }

    /// The outgoing `X-Amzn-Trace-Id` says `Sampled=1` exactly when the invocation's own spans
    /// go to X-Ray: Lambda's flag when it gave one (even against the OpenTelemetry decision),
    /// else the OpenTelemetry decision (the README's "Sampling" rows 3, 16).
    #[test]
    fn the_outgoing_xray_sampled_flag_is_the_invocations_xray_decision() {
        for (lambda, expected) in [
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
                "sampled=0",
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
                "sampled=1",
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
                "sampled=1",
            ),
        ] {
            let (url, headers) = one_request_server();
            let mut context = lambda_http::Context::default();
            context.xray_trace_id = Some(lambda.into());
            let request = event().with_lambda_context(context);
            let _ = serve_request(calls(url), request);
            let sent = headers.recv().unwrap();
            let xray = header(&sent, "x-amzn-trace-id");
            assert!(xray.ends_with(expected), "{lambda}: {xray}");
            // The OpenTelemetry trace is sampled in every case (parentbased_always_on).
            assert!(header(&sent, "traceparent").ends_with("-01"), "{lambda}");
        }
    }

    /// A handler that calls `url` once with [`http_client`].
    fn calls(
        url: String,
    ) -> impl tower::Service<
        lambda_http::Request,
        Response = String,
        Error = Box<dyn std::error::Error + Send + Sync>,
        Future: Send + 'static,
    > {
        tower::service_fn(move |_: lambda_http::Request| {
            let url = url.clone();
            async move {
                let answer = http_client().get(url).send().await?;
                Ok(answer.status().to_string())
            }
        })
    }

    fn request_with(pairs: &[(&'static str, &'static str)]) -> lambda_http::Request {
        let mut request = event();
        for (name, value) in pairs {
            request
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        request
    }

    // "If the flag is set in the incoming traceparent header, it MUST also be set in all
    // outgoing traceparent headers which use the same trace-id"; the same for
    // traceresponse. The SDK wrote the sampled bit alone, and its unsampled spans have
    // flags 00 whatever their parent's.
    #[test]
    fn the_callers_random_flag_is_kept_on_outgoing_traceparent_and_traceresponse() {
        for (incoming, flags) in [
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
                "02",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
                "03",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "01",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                "00",
            ),
            // Unknown flags are zero; a later version is written as 00.
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe-00",
                "02",
            ),
        ] {
            let (url, sent) = one_request_server();
            let (response, _) =
                serve_request(calls(url), request_with(&[("traceparent", incoming)]));
            let sent = sent.recv().unwrap();
            let traceparent = header(&sent, "traceparent");
            assert!(
                traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
                    && traceparent.ends_with(&format!("-{flags}")),
                "{incoming} -> {traceparent}"
            );
            let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
            assert!(
                traceresponse.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
                    && traceresponse.ends_with(&format!("-{flags}")),
                "{incoming} -> {traceresponse}"
            );
        }
    }

    // "If either trace-id, parent-id or trace-flags are invalid, the vendor creates a new
    // traceparent header and deletes tracestate." The SDK took a 31-digit trace-id.
    #[test]
    fn a_malformed_traceparent_starts_a_new_trace_and_its_tracestate_goes_nowhere() {
        let (url, sent) = one_request_server();
        let request = request_with(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-03",
            ),
            ("tracestate", "rojo=00f067aa0ba902b7"),
        ]);
        let (response, _) = serve_request(calls(url), request);
        let sent = sent.recv().unwrap();
        let traceparent = header(&sent, "traceparent");
        assert!(
            !traceparent.contains("4bf92f3577b34da6a3ce929d0e0e473"),
            "{traceparent}"
        );
        // A new root's X-Ray id starts with the time: not random (see propagation).
        assert!(traceparent.ends_with("-01"), "{traceparent}");
        assert!(
            !sent.iter().any(|line| line.starts_with("tracestate:")),
            "{sent:#?}"
        );
        let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
        assert_eq!(&traceresponse[..36], &traceparent[..36]);
        assert!(traceresponse.ends_with("-01"), "{traceresponse}");
    }

    // "Multiple tracestate header fields MUST be handled as specified by RFC9110 Section 5.3":
    // combined in order. The SDK read the first field only, and its TraceState rejects keys
    // the current grammar allows (`foo@@bar`).
    #[test]
    fn every_tracestate_field_goes_on_whole() {
        let (url, sent) = one_request_server();
        let request = request_with(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "foo@@bar=1, rojo=00f067aa0ba902b7"),
            ("tracestate", "congo=t61rcWkgMzE"),
        ]);
        let _ = serve_request(calls(url), request);
        let sent = sent.recv().unwrap();
        assert_eq!(
            header(&sent, "tracestate"),
            "foo@@bar=1,rojo=00f067aa0ba902b7,congo=t61rcwkgmze"
        );
    }
}
