//! SigV4 for one sender: aws-sigv4's signature over the request as it is sent (the body after
//! gzip, its `Content-Type` and `Content-Encoding`), with the function's credentials.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::Scope;
use crate::constants::{AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN};

/// Credentials expiring sooner than this are refreshed (in the background, the old ones still
/// used meanwhile): a request signed with them must not arrive expired.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// The wait before the chain is asked again after it failed: a role may be attached, a
/// network come back, but a flush must not ask on every invocation.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Signs one sender's requests for one scope.
#[derive(Debug)]
pub(crate) struct Signer {
    scope: Scope,
    credentials: Source,
    /// A request the signer could not sign (no credentials, a URL it refused) is said once.
    unsigned_said: AtomicBool,
}

/// Where the credentials come from.
#[derive(Debug)]
enum Source {
    /// The environment's, read once when the sender is built: Lambda's, which last as long
    /// as the execution environment.
    Environment(Credentials),
    /// aws-config's default chain (profile, SSO, web identity, ECS, IMDS), off Lambda.
    Chain(Arc<Chain>),
}

impl Signer {
    /// For `scope`, with the environment's credentials when `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` are set, else aws-config's default chain's, resolved when the
    /// first request is signed (after a response, never at the cold start).
    pub(crate) fn new(scope: Scope) -> Self {
        let credentials = match from_environment(&|name| std::env::var(name).ok()) {
            Some(credentials) => Source::Environment(credentials),
            None => Source::Chain(Arc::default()),
        };
        Self {
            scope,
            credentials,
            unsigned_said: AtomicBool::new(false),
        }
    }

    /// For `scope`, with `credentials`: tests sign with fixed ones.
    #[cfg(test)]
    pub(crate) fn with_credentials(scope: Scope, credentials: Credentials) -> Self {
        Self {
            scope,
            credentials: Source::Environment(credentials),
            unsigned_said: AtomicBool::new(false),
        }
    }

    /// For `scope`, asking `provider` as the default chain would be asked: tests give a slow
    /// or failing one (the real chain would ask the instance metadata service).
    #[cfg(test)]
    fn with_provider(scope: Scope, provider: SharedCredentialsProvider) -> Self {
        let chain = Chain::default();
        let _ = chain.provider.set(provider);
        Self {
            scope,
            credentials: Source::Chain(Arc::new(chain)),
            unsigned_said: AtomicBool::new(false),
        }
    }

    /// The service and region signed for.
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The headers that sign a POST of `body` to `url` with `headers` (all of them signed):
    /// `Authorization`, `X-Amz-Date` and, with temporary credentials, `X-Amz-Security-Token`,
    /// marked sensitive. `None`, said once, when there are no credentials by `deadline` or the
    /// request cannot be signed: an unsigned request would only be refused.
    pub(crate) async fn sign(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        deadline: Instant,
    ) -> Option<HeaderMap> {
        let credentials = match &self.credentials {
            Source::Environment(credentials) => Some(credentials.clone()),
            Source::Chain(chain) => chain.credentials_by(deadline).await,
        };
        let Some(credentials) = credentials else {
            self.say_unsigned("no AWS credentials were found (environment, profile, role)");
            return None;
        };
        match self.signature(url, headers, body, credentials, SystemTime::now()) {
            Ok(signed) => Some(signed),
            Err(reason) => {
                self.say_unsigned(reason);
                None
            }
        }
    }

    /// The signing headers, at `time`.
    fn signature(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        credentials: Credentials,
        time: SystemTime,
    ) -> Result<HeaderMap, &'static str> {
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.scope.region)
            .name(self.scope.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| "the signing parameters are incomplete")?
            .into();
        let signed: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let request =
            SignableRequest::new("POST", url, signed.into_iter(), SignableBody::Bytes(body))
                .map_err(|_| "the endpoint URL cannot be signed")?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|_| "the request cannot be signed")?
            .into_parts();
        let mut out = HeaderMap::new();
        for (name, value) in instructions.headers() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| "the signer made a header HTTP does not allow")?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| "the signer made a header HTTP does not allow")?;
            // The signature and the session token: never in a debug print of the request.
            value.set_sensitive(true);
            out.insert(name, value);
        }
        Ok(out)
    }

    fn say_unsigned(&self, reason: &str) {
        if !self.unsigned_said.swap(true, Ordering::Relaxed) {
            tracing::error!(
                service = self.scope.service,
                region = self.scope.region.as_str(),
                "OTLP requests to AWS cannot be signed: {reason}; they are not sent (reported once)"
            );
        }
    }
}

/// The environment's credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for a
/// role's temporary ones (Lambda's), `AWS_SESSION_TOKEN`; `None` without the first two.
fn from_environment(var: &dyn Fn(&str) -> Option<String>) -> Option<Credentials> {
    let set = |name| var(name).filter(|v| !v.trim().is_empty());
    Some(Credentials::new(
        set(AWS_ACCESS_KEY_ID)?,
        set(AWS_SECRET_ACCESS_KEY)?,
        set(AWS_SESSION_TOKEN),
        None,
        "environment",
    ))
}

/// aws-config's default credentials chain, asked in the background and kept until shortly
/// before the credentials expire.
#[derive(Debug, Default)]
struct Chain {
    /// aws-config's default chain, built when first asked.
    provider: tokio::sync::OnceCell<SharedCredentialsProvider>,
    state: Mutex<ChainState>,
    /// Wakes the flushes waiting for an answer of the chain.
    answered: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct ChainState {
    credentials: Option<Credentials>,
    asking: bool,
    /// After a failure, not asked again before this.
    retry_at: Option<Instant>,
    failure_said: bool,
}

impl Chain {
    /// The credentials: at once when fresh; otherwise the chain is asked in the background
    /// and this waits for its answer until `deadline` (credentials about to expire are used
    /// meanwhile, without waiting).
    async fn credentials_by(self: &Arc<Self>, deadline: Instant) -> Option<Credentials> {
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            {
                let mut state = self.state.lock().ok()?;
                let now = SystemTime::now();
                let usable = state
                    .credentials
                    .clone()
                    .filter(|c| c.expiry().is_none_or(|expiry| expiry > now));
                let fresh = usable.as_ref().is_some_and(|c| {
                    c.expiry()
                        .is_none_or(|expiry| expiry > now + REFRESH_BEFORE_EXPIRY)
                });
                if fresh {
                    return usable;
                }
                let may_ask = state.retry_at.is_none_or(|at| Instant::now() >= at);
                if !state.asking && may_ask {
                    state.asking = true;
                    tokio::spawn(Arc::clone(self).ask());
                }
                if usable.is_some() || !state.asking {
                    return usable;
                }
            }
            if tokio::time::timeout_at(deadline.into(), answered)
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// One question to the chain; its answer kept, a failure said once.
    async fn ask(self: Arc<Self>) {
        let provider = self
            .provider
            .get_or_init(|| async {
                SharedCredentialsProvider::new(
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .build()
                        .await,
                )
            })
            .await;
        let answer = provider.provide_credentials().await;
        let mut say = None;
        if let Ok(mut state) = self.state.lock() {
            state.asking = false;
            match answer {
                Ok(credentials) => {
                    state.credentials = Some(credentials);
                    state.retry_at = None;
                }
                Err(error) => {
                    state.retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
                    if !std::mem::replace(&mut state.failure_said, true) {
                        say = Some(error);
                    }
                }
            }
        }
        // Said after the lock is released: a line may be written while it is held.
        if let Some(error) = say {
            // The chain's error names the providers tried and why each failed, never a key.
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "no AWS credentials for signing OTLP requests (said once; asked again every 10 s)"
            );
        }
        self.answered.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
