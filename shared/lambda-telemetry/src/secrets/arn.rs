//! The ARN that names a secret, and which store it is in.
//!
//! ARN formats from the Service Authorization Reference: Secrets Manager
//! `arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}`, Systems Manager
//! `arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}`.

use std::fmt;
use std::str::FromStr;

/// Where a secret is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "secrets"), allow(dead_code))]
pub(crate) enum Store {
    /// AWS Secrets Manager: `GetSecretValue`, its `SecretString`.
    SecretsManager,
    /// SSM Parameter Store: `GetParameter` with decryption (a `SecureString`, or any type).
    ParameterStore,
}

/// A Secrets Manager secret's or an SSM parameter's ARN: the whole text, which both APIs
/// take as the name, its store, and its region, where the client must ask.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "secrets"), allow(dead_code))]
pub(crate) struct SecretArn {
    arn: String,
    store: Store,
    region: String,
}

#[cfg_attr(not(feature = "secrets"), allow(dead_code))]
impl SecretArn {
    pub(crate) fn store(&self) -> Store {
        self.store
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.arn
    }
}

/// Why a text is not such an ARN: never the text, which may be the secret itself pasted
/// into the wrong variable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotASecretArn;

impl fmt::Display for NotASecretArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>) \
             or of an SSM parameter (arn:aws:ssm:<region>:<account>:parameter/<name>)",
        )
    }
}

impl FromStr for SecretArn {
    type Err = NotASecretArn;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let arn = text.trim();
        // arn:partition:service:region:account:resource; the resource may hold colons.
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(NotASecretArn);
        };
        let store = match service {
            "secretsmanager"
                if resource
                    .strip_prefix("secret:")
                    .is_some_and(|n| !n.is_empty()) =>
            {
                Store::SecretsManager
            }
            "ssm"
                if resource
                    .strip_prefix("parameter/")
                    .is_some_and(|n| !n.is_empty()) =>
            {
                Store::ParameterStore
            }
            _ => return Err(NotASecretArn),
        };
        let well_formed = !partition.is_empty()
            && !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !arn
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
        if !well_formed {
            return Err(NotASecretArn);
        }
        Ok(Self {
            arn: arn.to_owned(),
            store,
            region: region.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_and_region_come_from_the_arn() {
        let secret: SecretArn =
            "arn:aws:secretsmanager:eu-west-2:123456789012:secret:cruddur/rollbar-AbC123"
                .parse()
                .unwrap();
        assert_eq!(
            (secret.store(), secret.region()),
            (Store::SecretsManager, "eu-west-2")
        );
        let parameter: SecretArn =
            " arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/cruddur/otlp-headers "
                .parse()
                .unwrap();
        assert_eq!(parameter.store(), Store::ParameterStore);
        assert_eq!(
            parameter.as_str(),
            "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/cruddur/otlp-headers"
        );
    }

    /// A key pasted where the ARN goes, a name instead of an ARN, another service's ARN:
    /// each is refused, and the refusal never quotes the text.
    #[test]
    fn anything_but_a_secret_or_parameter_arn_is_refused_without_being_quoted() {
        for text in [
            "hcaik_01canarykey",
            "cruddur/rollbar",
            "/cruddur/rollbar",
            "arn:aws:s3:::bucket/key",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            "arn:aws:secretsmanager:us-east-1:123456789012:rollbar",
            "arn:aws:ssm:us-east-1:123456789012:parameter/",
            "arn:aws:ssm:us-east-1:123456789012:document/x",
            "arn:aws:ssm:us-east-1:1234:parameter/x",
            "arn:aws:ssm:US-EAST-1:123456789012:parameter/x",
            "arn:aws:ssm:us-east-1:123456789012:parameter/x y",
            "arn::ssm:us-east-1:123456789012:parameter/x",
        ] {
            let refused = text.parse::<SecretArn>().expect_err(text);
            assert!(!refused.to_string().contains(text.trim()), "{text}");
        }
    }
}
