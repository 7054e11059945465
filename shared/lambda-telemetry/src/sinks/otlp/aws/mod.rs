//! OTLP straight to AWS, without a collector or the X-Ray daemon: CloudWatch's OTLP endpoints
//! take spans at `https://xray.<region>.amazonaws.com/v1/traces` (SigV4 service `xray`;
//! Transaction Search on in the account) and metrics at
//! `https://monitoring.<region>.amazonaws.com/v1/metrics` (service `monitoring`), each request
//! signed with SigV4 ("Sending traces and metrics to the OTLP endpoints", CloudWatch User
//! Guide).
//!
//! [`Signing`] decides from the endpoint and `LAMBDA_TELEMETRY_OTLP_SIGV4` whether a sender
//! signs, for which service and region. The signing itself (feature `sigv4`) is aws-sigv4's,
//! AWS's own signer, never hand-written crypto, with the function's credentials: in Lambda the
//! environment's (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read once
//! at start; elsewhere aws-config's default chain, resolved in the background after a
//! response, never on the request path or at the cold start.

use crate::config::SettingProblem;
use crate::constants::{AWS_REGION, LAMBDA_TELEMETRY_OTLP_SIGV4};

#[cfg(feature = "sigv4")]
mod signer;
#[cfg(feature = "sigv4")]
pub(super) use signer::Signer;

/// Where a signed request goes: the SigV4 service and region its signature is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    /// `xray` for traces, `monitoring` for metrics.
    pub(crate) service: &'static str,
    /// `us-east-1`.
    pub(crate) region: String,
}

/// The service and region of one of AWS's OTLP endpoints, from its host
/// (`xray.us-east-1.amazonaws.com`, `monitoring.eu-west-1.amazonaws.com`, the `.cn`
/// partition's `amazonaws.com.cn`); `None` for any other URL.
pub(crate) fn aws_endpoint(url: &str) -> Option<Scope> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let (service, rest) = host.split_once('.')?;
    let service = match service {
        "xray" => "xray",
        "monitoring" => "monitoring",
        _ => return None,
    };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    is_region(region).then(|| Scope {
        service,
        region: region.to_owned(),
    })
}

/// `us-east-1`, `cn-north-1`, `us-gov-west-1`: lowercase words and a number, by hyphens.
fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text.split('-').count() >= 3
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `LAMBDA_TELEMETRY_OTLP_SIGV4`, read as text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SigV4 {
    /// Sign when the endpoint is one of AWS's OTLP endpoints (the default).
    #[default]
    Auto,
    /// Sign every request, as the signal's service (`xray`, `monitoring`), in the endpoint's
    /// region or `AWS_REGION`: for a VPC endpoint or a stand-in of AWS's.
    On,
    /// Never sign.
    Off,
}

impl SigV4 {
    /// `auto`, `on` (`true`...), `off` (`false`...); anything else is a problem and `auto`.
    pub(crate) fn parse(text: Option<&str>, problems: &mut Vec<SettingProblem>) -> Self {
        let Some(text) = text else {
            return Self::Auto;
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            _ => match crate::config::flag(Some(text)) {
                Some(true) => Self::On,
                Some(false) => Self::Off,
                None => {
                    problems.push(SettingProblem::new(
                        LAMBDA_TELEMETRY_OTLP_SIGV4,
                        "is not auto, on or off; signing AWS's endpoints only",
                    ));
                    Self::Auto
                }
            },
        }
    }

    /// The scope a sender to `endpoint` signs for, as `service` (the signal's): `None` when it
    /// does not sign. `region` is `AWS_REGION`, for an endpoint that names none; without one,
    /// `On` is a problem and does not sign.
    pub(crate) fn scope(
        self,
        endpoint: &str,
        service: &'static str,
        region: Option<&str>,
        problems: &mut Vec<SettingProblem>,
    ) -> Option<Scope> {
        match self {
            Self::Off => None,
            Self::Auto => aws_endpoint(endpoint),
            Self::On => aws_endpoint(endpoint)
                .map(|aws| Scope {
                    service,
                    region: aws.region,
                })
                .or_else(|| match region.map(str::trim).filter(|r| is_region(r)) {
                    Some(region) => Some(Scope {
                        service,
                        region: region.to_owned(),
                    }),
                    None => {
                        problems.push(SettingProblem::new(
                            AWS_REGION,
                            "is not set (or not a region), and LAMBDA_TELEMETRY_OTLP_SIGV4=on \
                             must sign for one; not signing",
                        ));
                        None
                    }
                }),
        }
    }
}

/// What a refusal by AWS means, said once instead of "check the headers": the role's
/// permission, or Transaction Search for traces.
#[cfg(feature = "sigv4")]
pub(crate) fn refusal_advice(service: &str) -> &'static str {
    match service {
        "xray" => {
            "AWS refused the signed spans: the function's role needs xray:PutSpans, and the \
             account needs CloudWatch Transaction Search on"
        }
        _ => "AWS refused the signed metrics: the function's role needs cloudwatch:PutMetricData",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hosts of CloudWatch's OTLP endpoints name the service and the region; any other
    /// host, a lookalike, or a path on another host is not AWS's.
    #[test]
    fn aws_otlp_endpoints_are_told_by_their_host() {
        let scope = |service, region: &str| {
            Some(Scope {
                service,
                region: region.to_owned(),
            })
        };
        assert_eq!(
            aws_endpoint("https://xray.us-east-1.amazonaws.com/v1/traces"),
            scope("xray", "us-east-1")
        );
        assert_eq!(
            aws_endpoint("https://monitoring.eu-west-1.amazonaws.com/v1/metrics"),
            scope("monitoring", "eu-west-1")
        );
        assert_eq!(
            aws_endpoint("https://XRAY.cn-north-1.amazonaws.com.cn/v1/traces"),
            scope("xray", "cn-north-1")
        );
        assert_eq!(
            aws_endpoint("https://xray.us-gov-west-1.amazonaws.com:443/v1/traces"),
            scope("xray", "us-gov-west-1")
        );
        for other in [
            "https://api.honeycomb.io/v1/traces",
            "https://xray.us-east-1.amazonaws.com.evil.example/v1/traces",
            "https://logs.us-east-1.amazonaws.com/v1/logs",
            "https://xray.amazonaws.com/v1/traces",
            "https://xray.US_EAST.amazonaws.com/v1/traces",
            "http://127.0.0.1:4318/xray.us-east-1.amazonaws.com/v1/traces",
            "not a url",
        ] {
            assert_eq!(aws_endpoint(other), None, "{other}");
        }
    }

    /// `auto` signs AWS's endpoints only; `on` signs any, as the signal's service, in the
    /// endpoint's region or `AWS_REGION` (a problem without one); `off` none; a bad value is
    /// said and is `auto`.
    #[test]
    fn the_setting_decides_who_signs_and_for_which_scope() {
        let mut problems = Vec::new();
        let aws = "https://xray.us-west-2.amazonaws.com/v1/traces";
        let local = "http://127.0.0.1:4318/v1/traces";
        let xray = |region: &str| {
            Some(Scope {
                service: "xray",
                region: region.to_owned(),
            })
        };
        let auto = SigV4::parse(None, &mut problems);
        assert_eq!(
            auto.scope(aws, "xray", None, &mut problems),
            xray("us-west-2")
        );
        assert_eq!(
            auto.scope(local, "xray", Some("eu-west-1"), &mut problems),
            None
        );
        let on = SigV4::parse(Some(" ON "), &mut problems);
        assert_eq!(
            on.scope(local, "xray", Some("eu-west-1"), &mut problems),
            xray("eu-west-1")
        );
        assert_eq!(
            on.scope(aws, "xray", Some("eu-west-1"), &mut problems),
            xray("us-west-2"),
            "the endpoint's region wins"
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(on.scope(local, "xray", None, &mut problems), None);
        assert_eq!(problems.len(), 1);
        let off = SigV4::parse(Some("false"), &mut problems);
        assert_eq!(off.scope(aws, "xray", None, &mut problems), None);
        assert_eq!(SigV4::parse(Some("sign-x9"), &mut problems), SigV4::Auto);
        assert_eq!(problems.len(), 2);
        assert!(!format!("{problems:?}").contains("x9"));
    }
}
