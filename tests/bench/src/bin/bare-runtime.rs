//! The floor: a bare `lambda_runtime` function, no HTTP layer and no telemetry, answering
//! the API Gateway proxy event with the home feed JSON home-activities returns.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let activities = cruddur::mock::home_activities(chrono::Utc::now());
    Ok(json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": serde_json::to_string(&activities)?,
        "isBase64Encoded": false,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
