//! The AWS side of shipping: one PutLogEvents (making the group and stream when missing), the
//! client, and its errors in words for the log.

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use super::batch::Line;
use super::settings::Settings;

/// Why lines did not reach CloudWatch in one flush.
#[derive(Debug)]
pub(super) enum Trouble {
    /// The service or the network failed; the lines stay queued.
    Unreachable(String),
    /// CloudWatch refused them (credentials, permissions, a missing group); they are dropped.
    Refused(String),
}

/// One PutLogEvents, creating the group and stream when they are missing. Returns
/// how many lines CloudWatch rejected (too old, too new, expired).
pub(super) async fn put(
    client: &Client,
    settings: &Settings,
    lines: &[Line],
) -> Result<u64, Trouble> {
    let events: Vec<InputLogEvent> = lines
        .iter()
        .filter_map(|line| {
            InputLogEvent::builder()
                .timestamp(line.timestamp)
                .message(line.message.as_str())
                .build()
                .ok()
        })
        .collect();
    for attempt in 0..2 {
        // Created only when PutLogEvents says it is missing: a role may put events into
        // the template's group without the right to create groups.
        if attempt == 1 {
            create_missing(client, settings).await?;
        }
        let put = client
            .put_log_events()
            .log_group_name(&settings.group)
            .log_stream_name(&settings.stream)
            .set_log_events(Some(events.clone()))
            .send()
            .await;
        match put {
            Ok(output) => {
                let rejected = output.rejected_log_events_info().map_or(0, |info| {
                    let too_new = info
                        .too_new_log_event_start_index()
                        .map_or(0, |i| lines.len() as i64 - i64::from(i));
                    let too_old = info
                        .too_old_log_event_end_index()
                        .map_or(0, |i| i64::from(i) + 1);
                    let expired = info
                        .expired_log_event_end_index()
                        .map_or(0, |i| i64::from(i) + 1);
                    (too_new + too_old.max(expired)).max(0) as u64
                });
                return Ok(rejected);
            }
            Err(error) => {
                let missing = error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception());
                if missing && settings.create && attempt == 0 {
                    continue;
                }
                return Err(trouble(&error));
            }
        }
    }
    Err(Trouble::Refused(
        "the log group or stream is missing".into(),
    ))
}

/// Creates the group (with the retention) and the stream, when creation is on; "already
/// exists" is success.
async fn create_missing(client: &Client, settings: &Settings) -> Result<(), Trouble> {
    if !settings.create {
        return Ok(());
    }
    match client
        .create_log_group()
        .log_group_name(&settings.group)
        .send()
        .await
    {
        Ok(_) => {
            client
                .put_retention_policy()
                .log_group_name(&settings.group)
                .retention_in_days(settings.retention_days)
                .send()
                .await
                .map_err(|e| trouble(&e))?;
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
        Err(e) => return Err(trouble(&e)),
    }
    match client
        .create_log_stream()
        .log_group_name(&settings.group)
        .log_stream_name(&settings.stream)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(trouble(&e)),
    }
}

/// The error as words for the log: its code and message only, never the request.
fn trouble<E, R>(error: &aws_sdk_cloudwatchlogs::error::SdkError<E, R>) -> Trouble
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata,
{
    use aws_sdk_cloudwatchlogs::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let words = format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or_default()
            );
            if e.code()
                .is_some_and(|c| c.contains("Throttling") || c.contains("ServiceUnavailable"))
            {
                Trouble::Unreachable(words)
            } else {
                Trouble::Refused(words)
            }
        }
        SdkError::ConstructionFailure(_) => Trouble::Refused(
            "the request could not be made (region or credentials missing?)".into(),
        ),
        SdkError::TimeoutError(_) => Trouble::Unreachable("timed out".into()),
        SdkError::DispatchFailure(failure) => {
            if failure.is_user() {
                Trouble::Refused("no usable AWS credentials or region".into())
            } else {
                Trouble::Unreachable("connection failed".into())
            }
        }
        _ => Trouble::Unreachable("no valid answer".into()),
    }
}

/// The client of the standard AWS configuration (region, credential chain,
/// `AWS_ENDPOINT_URL[_CLOUDWATCH_LOGS]`), with the crate's AWS retries and timeouts: it runs
/// inside the flush budget.
pub(super) async fn aws_client() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(crate::aws_calls::retry_config())
        .timeout_config(crate::aws_calls::timeout_config())
        .load()
        .await;
    Client::new(&config)
}
