//! The floor with HTTP: a bare `lambda_http` function, no telemetry, running home-activities'
//! own handler (its `tracing` calls go nowhere without a subscriber, its metric nowhere without a
//! recorder).

#[path = "../../../../functions/home-activities/src/handler.rs"]
mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|request| async {
        handler::handle(request)
            .await
            .map_err(lambda_http::Error::from)
    }))
    .await
}
