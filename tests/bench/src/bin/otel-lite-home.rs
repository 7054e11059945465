//! The closest Rust peer: home-activities' own handler instrumented with lambda-otel-lite,
//! set up as its README shows (`init_telemetry` with the default configuration, which
//! writes OTLP spans to stdout, in its default sync mode, and `create_traced_handler`).

#[path = "../../../../functions/home-activities/src/handler.rs"]
mod handler;

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use lambda_http::request::LambdaRequest;
use lambda_otel_lite::{TelemetryConfig, create_traced_handler, init_telemetry};
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};

async fn handle(
    event: LambdaEvent<ApiGatewayProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let request = LambdaRequest::ApiGatewayV1(event.payload).into();
    let (parts, body) = handler::handle(request).await?.into_parts();
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(parts.status.as_u16());
    response.headers = parts.headers;
    response.body = Some(body);
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (_, completion) = init_telemetry(TelemetryConfig::default()).await?;
    let traced = create_traced_handler("home-activities", completion, handle);
    Runtime::new(service_fn(traced)).run().await
}
