//! Keeps secrets out of telemetry: a value whose name looks secret is never written, nor is a
//! credential in free text (after an authorization scheme, in a URL's userinfo or query, a
//! JWT). Log lines and Rollbar items are masked as they are made; spans once, in the flush,
//! before any exporter sees them ([`redact_span`](crate::redact::redact_span)).

/// Authorization schemes and their credentials, URLs, source locations.
mod credentials;
/// Metric groups, masked in the flush.
mod metrics;
/// `name=value` pairs, quoted and bracketed values.
mod pairs;
/// The one pass over free text that finds what to mask.
mod scanner;
/// Masking every string of a span, once, in the flush.
mod spans;

use std::borrow::Cow;

use crate::constants::{REDACTED, SECRET_NAME_PARTS, SECRET_URL_PARAMETERS};

use credentials::decode;
pub(crate) use metrics::{redact_json, redact_metrics};
use scanner::Scanner;
pub(crate) use spans::redact_span;

/// `true` when a field, header or query parameter of this name may hold a secret
/// (`Authorization`, `Cookie`, `access_token`, `x-api-key`, `db_password`, ...).
pub(crate) fn is_secret_name(name: &str) -> bool {
    // Field names are short; a stack buffer keeps this free of allocation on the log path.
    let mut buf = [0u8; 64];
    let bytes = name.as_bytes();
    let normalized: &[u8] = if bytes.len() <= buf.len() {
        for (b, out) in bytes.iter().zip(buf.iter_mut()) {
            *out = match b {
                b'-' | b'.' => b'_',
                b => b.to_ascii_lowercase(),
            };
        }
        &buf[..bytes.len()]
    } else {
        // A name this long is odd enough to be treated as secret rather than inspected.
        return true;
    };
    // The first byte before the rest: this runs for every attribute of every span and every
    // name in free text, and a slice comparison is a `memcmp` call.
    SECRET_NAME_PARTS.iter().any(|part| {
        let part = part.as_bytes();
        normalized
            .windows(part.len())
            .any(|w| w[0] == part[0] && w == part)
    })
}

/// `true` when a parameter of a URL's query or fragment of this name may hold a secret: a
/// secret name, or one that is secret in URLs only (`key`, `code`, `sig`: see
/// [`SECRET_URL_PARAMETERS`]).
fn is_secret_parameter(name: &str) -> bool {
    is_secret_name(name)
        || SECRET_URL_PARAMETERS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p))
}

/// The query string with the value of every secret-looking parameter replaced by a mask.
/// Parameters keep their order; names are left as they came.
pub(crate) fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(&decode(name)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// [`redact_text`] of a string that is owned already: the same string back when nothing is
/// masked, without a copy.
pub(crate) fn redact_owned(text: String) -> String {
    match redact_text(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    }
}

/// Free text (a message, a panic's payload, an error chain, a raw event) with every credential
/// masked:
///
/// - the value of a secret-looking `name=value`, `name: value`, `"name": "value"` pair, with
///   blanks around the separator or not, and in JSON quoted inside a string
///   (`{\"password\":\"...\"}`, as a Debug-printed `String` shows it): `token=[REDACTED]`,
///   `"cookie": "[REDACTED]"`;
/// - what follows an authorization scheme (`Bearer`, `Basic`, `Digest`, `Negotiate`, `NTLM`,
///   `token`, `AWS4-HMAC-SHA256`), or any scheme after `Authorization:`: the scheme is kept,
///   the credentials go (`Authorization: Bearer [REDACTED]`);
/// - in a URL (`https://...`), the password of its userinfo and the values of secret-looking
///   parameters of its query and fragment, whichever their position, including those secret
///   in URLs only (`key`, `code`, `sig`);
/// - a JWT (`eyJ...` `.` `...` `.` `...`), whole, wherever it stands.
///
/// What only looks like a pair is kept: source locations (`src/auth.rs:12:5`), times
/// (`12:30:00`), IPv6 addresses and ports (`auth.example.com:443`). Text without anything to
/// mask is returned as it is, without a copy.
pub(crate) fn redact_text(text: &str) -> Cow<'_, str> {
    let masks = Scanner::masks(text);
    if masks.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for mask in masks {
        // Ranges are in order of their start; one that starts inside an earlier one only
        // stretches that one's mask.
        if mask.start < at {
            at = at.max(mask.end);
            continue;
        }
        out.push_str(&text[at..mask.start]);
        out.push_str(REDACTED);
        at = mask.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_masked(cases: &[(&str, &str)]) {
        for (text, expected) in cases {
            assert_eq!(redact_text(text), *expected, "{text}");
        }
    }

    #[test]
    fn secrets_in_free_text_are_masked() {
        assert_masked(&[
            (
                "failed with token=canary-2 for x",
                "failed with token=[REDACTED] for x",
            ),
            ("cookie:session=canary-3", "cookie:[REDACTED]"),
            ("x-api-key= canary-5", "x-api-key= [REDACTED]"),
            ("a=1&token=canary;b=2", "a=1&token=[REDACTED];b=2"),
            (
                "rollbar.access_token:12345 db.password:1234",
                "rollbar.access_token:[REDACTED] db.password:[REDACTED]",
            ),
            (
                "Cookie: a=canary; b=canary",
                "Cookie: [REDACTED]; [REDACTED]",
            ),
            // Debug output of a struct and of a header map, and a raw event's JSON.
            (
                r#"Config { password: "canary is long", user: "bob" }"#,
                r#"Config { password: "[REDACTED]", user: "bob" }"#,
            ),
            (
                r#"{"authorization": "Bearer canary-6", "accept": "*/*"}"#,
                r#"{"authorization": "[REDACTED]", "accept": "*/*"}"#,
            ),
            (
                r#"{"headers":{"authorization":"Bearer canary-7","host":"x"},"body":"{\"a\":1}"}"#,
                r#"{"headers":{"authorization":"[REDACTED]","host":"x"},"body":"{\"a\":1}"}"#,
            ),
            (
                r#"{"cookie": ["a=canary", "b=canary"], "x": 1}"#,
                r#"{"cookie": [[REDACTED]], "x": 1}"#,
            ),
        ]);
    }

    /// JSON inside a string, as a Debug-printed `String` field shows it (`{\"password\":...}`),
    /// is JSON still: its secret values are masked, quotes and escapes kept.
    #[test]
    fn escaped_json_loses_its_secrets() {
        assert_masked(&[
            (
                r#"body: "{\"password\":\"canary\",\"user\":\"bob\"}""#,
                r#"body: "{\"password\":\"[REDACTED]\",\"user\":\"bob\"}""#,
            ),
            (
                r#"{\"token\": \"canary one\", \"page\": 2}"#,
                r#"{\"token\": \"[REDACTED]\", \"page\": 2}"#,
            ),
            // A quote inside the value, escaped twice, does not end it.
            (
                r#"{\"password\":\"can\\\"ary\"}"#,
                r#"{\"password\":\"[REDACTED]\"}"#,
            ),
            (r#"password=\"canary\" ok"#, r#"password=\"[REDACTED]\" ok"#),
            // Never closed: all of the rest may be the secret.
            (r#"{\"secret\":\"canary"#, r#"{\"secret\":\"[REDACTED]"#),
        ]);
    }

    /// Configuration files, Python reprs and log formats put blanks around `=` and `:`.
    #[test]
    fn blanks_around_the_separator_do_not_hide_a_pair() {
        assert_masked(&[
            ("password = canary", "password = [REDACTED]"),
            ("token = 'canary one' next", "token = '[REDACTED]' next"),
            (r#""password" : "canary""#, r#""password" : "[REDACTED]""#),
            ("api_key =canary, page = 2", "api_key =[REDACTED], page = 2"),
            ("secret\t:\tcanary", "secret\t:\t[REDACTED]"),
        ]);
    }

    /// Names beyond the HTTP ones: keys and their passphrases, OAuth client secrets, the
    /// session cookies of PHP, Java servlets and Express.
    #[test]
    fn keys_passphrases_and_session_cookies_are_masked_by_name() {
        assert_masked(&[
            ("private_key=canary", "private_key=[REDACTED]"),
            ("privateKey: canary", "privateKey: [REDACTED]"),
            ("passphrase=canary", "passphrase=[REDACTED]"),
            ("client_secret=canary", "client_secret=[REDACTED]"),
            ("Cookie: PHPSESSID=canary", "Cookie: [REDACTED]"),
            (
                "set PHPSESSID=canary; path=/",
                "set PHPSESSID=[REDACTED]; path=/",
            ),
            ("JSESSIONID=canary", "JSESSIONID=[REDACTED]"),
            ("connect.sid=s%3Acanary.sig", "connect.sid=[REDACTED]"),
            (
                "session=canary sessionid=canary",
                "session=[REDACTED] sessionid=[REDACTED]",
            ),
        ]);
    }

    /// Some parameters are secret in a URL only, where their meaning is fixed: Google's
    /// `key`, OAuth 2.0's authorization `code` (RFC 6749 §4.1.2), an Azure SAS's `sig`, and
    /// the presigned URLs of S3 (`X-Amz-Signature`, `X-Amz-Credential`,
    /// `X-Amz-Security-Token`).
    #[test]
    fn parameters_secret_in_urls_only_are_masked_in_urls() {
        assert_masked(&[
            (
                "GET https://maps.example/api?key=AIzacanary&q=x",
                "GET https://maps.example/api?key=[REDACTED]&q=x",
            ),
            (
                "https://app.example/callback?code=canary&state=s",
                "https://app.example/callback?code=[REDACTED]&state=s",
            ),
            (
                "https://app.example/callback#state=s&code=canary",
                "https://app.example/callback#state=s&code=[REDACTED]",
            ),
            (
                "https://acct.blob.core.windows.net/c/b?sv=2022&sp=r&sig=canary%3D",
                "https://acct.blob.core.windows.net/c/b?sv=2022&sp=r&sig=[REDACTED]",
            ),
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIDcanary%2F20260101&X-Amz-Security-Token=canary\
                 &X-Amz-Signature=canary",
                "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]\
                 &X-Amz-Signature=[REDACTED]",
            ),
        ]);
        assert_eq!(
            redact_query("code=canary&Key=canary&sig=canary&page=2"),
            "code=[REDACTED]&Key=[REDACTED]&sig=[REDACTED]&page=2"
        );
    }

    /// RFC 7519 §3: a JWT is base64url parts joined by dots, its header a JSON object
    /// (`eyJ`). It is a credential wherever it stands, named or not: ALB's
    /// `x-amzn-oidc-data` header, an `id_token` quoted in an error.
    #[test]
    fn a_jwt_is_masked_wherever_it_stands() {
        let jwt =
            "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlX2NhbmFyeQ";
        assert_masked(&[
            (
                &format!("claims {jwt} rejected"),
                "claims [REDACTED] rejected",
            ),
            (&format!("({jwt})"), "([REDACTED])"),
            (
                &format!(r#"{{"x-amzn-oidc-data": "{jwt}", "host": "x"}}"#),
                r#"{"x-amzn-oidc-data": "[REDACTED]", "host": "x"}"#,
            ),
            (
                &format!("x-amzn-oidc-data:{jwt}"),
                "x-amzn-oidc-data:[REDACTED]",
            ),
            // Unsecured (no signature) and encrypted (five parts).
            ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnkifQ.", "[REDACTED]"),
            (
                "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVydGV4dA.dGFn end",
                "[REDACTED] end",
            ),
        ]);
    }

    /// RFC 9110 §11.4: `Authorization: <auth-scheme> <credentials>`. The scheme says nothing
    /// secret and is kept; the credentials are masked, whatever the scheme.
    #[test]
    fn what_follows_an_authorization_scheme_is_masked() {
        assert_masked(&[
            (
                "Authorization: Bearer canary-1",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "authorization:bearer canary",
                "authorization:bearer [REDACTED]",
            ),
            ("sent bearer canary-4", "sent bearer [REDACTED]"),
            (
                "Authorization: Basic Y2FuYXJ5Ojg=",
                "Authorization: Basic [REDACTED]",
            ),
            (
                "retried Basic dXNlcjpwYXNz twice",
                "retried Basic [REDACTED] twice",
            ),
            (
                "Authorization: token ghp_canary9",
                "Authorization: token [REDACTED]",
            ),
            ("with token ghp_canary9 now", "with token [REDACTED] now"),
            (
                "Authorization: token canary",
                "Authorization: token [REDACTED]",
            ),
            (
                r#"Authorization: Digest username="a", response="canary", nonce="n" sent"#,
                "Authorization: Digest [REDACTED] sent",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AKIDCANARY/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host, Signature=5d672dcanary",
                "AWS4-HMAC-SHA256 [REDACTED]",
            ),
            (
                "Authorization: SSWS 00canary",
                "Authorization: [REDACTED] [REDACTED]",
            ),
            ("Authorization: 00canary", "Authorization: [REDACTED]"),
            (
                "Proxy-Authorization: Negotiate YII=",
                "Proxy-Authorization: Negotiate [REDACTED]",
            ),
        ]);
    }

    /// RFC 3986 §3: a URL's userinfo and query are parts of it, not `name:value` pairs.
    #[test]
    fn a_url_keeps_its_shape_and_loses_its_credentials() {
        assert_masked(&[
            (
                "Referer: https://app.example/reset?token=canary",
                "Referer: https://app.example/reset?token=[REDACTED]",
            ),
            (
                "https://app.example/a?page=2&api_key=canary&b=1#x",
                "https://app.example/a?page=2&api_key=[REDACTED]&b=1#x",
            ),
            (
                "postgres://user:canary@db.example:5432/cruddur",
                "postgres://user:[REDACTED]@db.example:5432/cruddur",
            ),
            (
                "https://ghp_canary@github.com/org/repo",
                "https://[REDACTED]@github.com/org/repo",
            ),
            (
                "error sending request for url (https://api.example/v1?api_key=canary): timed out",
                "error sending request for url (https://api.example/v1?api_key=[REDACTED]): timed out",
            ),
            (
                "https://app.example/cb#access_token=canary&state=s",
                "https://app.example/cb#access_token=[REDACTED]&state=s",
            ),
            (
                "https://auth.example.com:8443/login?page=2",
                "https://auth.example.com:8443/login?page=2",
            ),
            (
                "redirect=https://x.example/?Api%2DKey=canary",
                "redirect=https://x.example/?Api%2DKey=[REDACTED]",
            ),
        ]);
    }

    #[test]
    fn what_only_looks_like_a_pair_is_kept() {
        for text in [
            "no secrets here",
            "at 10:30 ok, 12:30:00, 2026-11-21T18:41:06.123Z",
            "panicked at /home/runner/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/\
             lambda_http-1.3.2/src/http.rs:123:45",
            "src/auth.rs:12:5 and auth.rs:12:5 and C:\\src\\session.rs:3:1",
            "functions/user-activities/src/token_store.rs:88:13",
            "listening on [fe80::1]:8080 and 2001:db8::1 and http://[::1]:8080/x?page=2",
            "connecting to auth.example.com:443 and session.internal:6379",
            "lambda_telemetry::auth::session: refreshed",
            "token expired; the basic plan; a digest of changes",
            "location=lambda_telemetry::auth:12",
            "status code=500, key=value, sig=1 outside a URL",
            "if token == expected { Token => x }",
            "eyJ alone, eyJhbGciOiJub25lIn0 without its dots, abceyJhbGciOiJub25lIn0.eyJ.x",
        ] {
            assert_eq!(redact_text(text), text);
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text}");
        }
    }

    /// A backtrace as std writes it for a handler that panicked under `cargo lambda watch`
    /// (frames cut), with the shapes a frame takes: the toolchain's sources under
    /// `/rustc/<commit hash>/`, the registry's under `index.crates.io-<hash>`, the workspace's
    /// under `./`, generics, closures, lifetimes, and module and file names that contain a
    /// secret name (`auth`, `session`, `token`, `credential`).
    pub(super) const BACKTRACE: &str = "   0: lambda_telemetry::panics::log_panic
             at ./shared/lambda-telemetry/src/panics.rs:55:21
   2: <alloc::boxed::Box<dyn for<'a, 'b> core::ops::function::Fn<(&'a std::panic::PanicHookInfo<'b>,), Output = ()> + core::marker::Sync + core::marker::Send> as core::ops::function::Fn<(&std::panic::PanicHookInfo,)>>::call
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/alloc/src/boxed.rs:2254:9
   7: core::panicking::panic_fmt
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14
   8: user_activities::auth::verify_token::{{closure}}
             at ./functions/user-activities/src/auth.rs:12:5
   9: <cruddur::session::Session as core::ops::drop::Drop>::drop
             at ./shared/cruddur/src/session.rs:40:13
  10: aws_credential_types::provider::token::ProvideToken::provide_token
             at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/aws-credential-types-1.2.4/src/provider/token.rs:88:13
  11: <lambda_telemetry::invocation::Invocation<S> as tower_service::Service<http::request::Request<lambda_http::body::Body>>>::call::{closure#0}
             at ./shared/lambda-telemetry/src/invocation.rs:160:46
  12: tokio::runtime::task::harness::Harness<T,S>::poll
             at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/runtime/task/harness.rs:153:15
  13: __rust_try
  14: std::rt::lang_start::{{closure}}
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/rt.rs:206:18
  15: __libc_start_call_main
             at ./csu/../sysdeps/nptl/libc_start_call_main.h:58:16
  16: main
";

    /// README: "Kept as they are: source locations (`src/auth.rs:12:5`)". Every frame of a
    /// backtrace, std's own text of one captured now and the sample above, comes out as it
    /// went in, line and column included, and without a copy.
    #[test]
    fn a_backtrace_keeps_every_frame_and_location() {
        let captured = std::backtrace::Backtrace::force_capture();
        for backtrace in [
            BACKTRACE.to_owned(),
            captured.to_string(),
            format!("{captured:#}"),
        ] {
            assert!(backtrace.matches(".rs:").count() >= 3, "{backtrace}");
            assert!(
                matches!(redact_text(&backtrace), Cow::Borrowed(_)),
                "{}",
                redact_text(&backtrace)
            );
        }
    }

    /// A secret next to a backtrace (in the panic's message, a note between frames) is masked;
    /// the frames around it keep their locations.
    #[test]
    fn a_secret_beside_a_backtrace_is_masked_and_the_frames_kept() {
        let text = format!(
            "panicked at src/auth.rs:12:5:\nrejected Authorization: Bearer canary-1 \
             (session=canary-2)\n{BACKTRACE}   note: password: canary-3\n"
        );
        let masked = redact_text(&text);
        assert!(!masked.contains("canary"), "{masked}");
        assert_eq!(
            masked,
            format!(
                "panicked at src/auth.rs:12:5:\nrejected Authorization: Bearer [REDACTED] \
                 (session=[REDACTED])\n{BACKTRACE}   note: password: [REDACTED]\n"
            )
        );
    }

    /// A location right after an authorization scheme's name is where something happened, not
    /// the credentials: a panic's `<message> at <location>` whose message ends with the word.
    #[test]
    fn a_source_location_after_a_scheme_word_is_kept() {
        for text in [
            "missing bearer src/auth.rs:12:5",
            "no token functions/user-activities/src/auth.rs:12:5",
            "Basic ./src/session.rs:40",
            "Authorization: Bearer main.rs:3:1",
        ] {
            assert_eq!(redact_text(text), text);
        }
        assert_masked(&[
            ("Basic user.name:1234", "Basic [REDACTED]"),
            ("token ghp_canary9:12", "token [REDACTED]"),
            ("Bearer canary.rsx:12", "Bearer [REDACTED]"),
        ]);
    }

    proptest::proptest! {
        /// Text near the shapes the scanner reads (quotes, brackets, separators, schemes,
        /// URLs, multi-byte letters), where slicing bugs would live, as well as anything.
        #[test]
        fn any_text_is_scanned_without_panicking_and_a_bearer_token_never_survives(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "((token|Bearer|Digest|https://|a:b@|\\?|auth|=|:|\"|'|\\\\|\\[|\\{|\\}|,|;|é| )){0,24}",
                "((password|key|code|sig|https://h/|\\?|#|&|=|:|\\\\\"|\"|eyJhbGciOiJub25lIn0|eyJ|\\.|a1|-|_| |\t)){0,24}",
            ],
            shape in 0usize..7,
        ) {
            let once = redact_text(&text);
            proptest::prop_assert_eq!(redact_text(&once), once.clone(), "masking twice changes nothing");
            let secret = "canary42";
            let with_secret = match shape {
                0 => format!("{text} Authorization: Bearer {secret} ok"),
                1 => format!("{text} {{\\\"password\\\":\\\"{secret}\\\"}}"),
                2 => format!("{text} password = {secret}"),
                3 => format!("{text} \"token\" : \"{secret}\""),
                4 => format!("{text} https://h.example/p?a=1&code={secret}#k"),
                5 => format!("{text} https://h.example/p?key={secret}"),
                _ => format!("{text} eyJhbGciOiJub25lIn0.eyJ{secret}.{secret}"),
            };
            let masked = redact_text(&with_secret);
            proptest::prop_assert!(!masked.contains(secret), "{}", masked);
            proptest::prop_assert_eq!(redact_text(&masked), masked.clone(), "masking twice changes nothing");
        }
    }

    #[test]
    fn headers_and_parameters_that_carry_secrets_are_recognised() {
        for name in [
            "Authorization",
            "cookie",
            "Set-Cookie",
            "x-api-key",
            "X-Honeycomb-Team",
            "access_token",
            "id_token",
            "client_secret",
            "password",
            "private_key",
            "PrivateKey",
            "passphrase",
            "PHPSESSID",
            "JSESSIONID",
            "connect.sid",
            "sessionid",
            "x-amzn-oidc-data",
            "x-amzn-oidc-accesstoken",
            "AWS_SESSION_TOKEN",
            "rollbar.access_token",
        ] {
            assert!(is_secret_name(name), "{name} should be secret");
        }
    }

    #[test]
    fn ordinary_names_are_kept() {
        for name in [
            "handle",
            "user_agent",
            "http.route",
            "page",
            "status",
            "message",
            "key",
            "code",
            "code.filepath",
            "sig",
            "x-amzn-oidc-identity",
        ] {
            assert!(!is_secret_name(name), "{name} should not be secret");
        }
    }

    #[test]
    fn secret_query_values_are_masked_and_the_rest_kept() {
        assert_eq!(
            redact_query("page=2&access_token=abc&Api%2DKey=k&flag"),
            "page=2&access_token=[REDACTED]&Api%2DKey=[REDACTED]&flag"
        );
    }
}
