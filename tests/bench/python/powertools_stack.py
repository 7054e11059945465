"""Powertools for AWS Lambda (Python) on the same handler: Logger (JSON lines with the
Lambda context) and Tracer (X-Ray through aws-xray-sdk, to AWS_XRAY_DAEMON_ADDRESS), as its
documentation sets them up."""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger, Tracer

import cruddur_mock

logger = Logger(service="cruddur")
tracer = Tracer(service="cruddur")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event, context):
    now = datetime.now(timezone.utc)
    with tracer.provider.in_subsegment("home-activities-mock-data") as subsegment:
        results = cruddur_mock.home_activities(now)
        subsegment.put_metadata("now", now.isoformat(), "app")
        subsegment.put_metadata("result_length", len(results), "app")
    logger.info("Hello Cloudwatch! from /api/activities/home", result_length=len(results))
    return cruddur_mock.response(results)
