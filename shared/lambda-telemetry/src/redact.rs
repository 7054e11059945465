//! Keeps secrets out of telemetry: a value whose name looks secret is never written.

use crate::constants::{REDACTED, SECRET_NAME_PARTS};

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
    SECRET_NAME_PARTS
        .iter()
        .any(|part| normalized.windows(part.len()).any(|w| w == part.as_bytes()))
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
            Some((name, _)) if is_secret_name(&decode(name)) => {
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
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}

/// Free text (a message, a panic's payload) with the values of secret-looking `name=value`,
/// `name: value` and `Bearer value` pairs masked: `Authorization: Bearer abc` becomes
/// `Authorization: [REDACTED] [REDACTED]`. Text without such a pair is returned as it is.
pub(crate) fn redact_text(text: &str) -> std::borrow::Cow<'_, str> {
    // The common case, a message with no `=`, `:` or bearer token, costs one scan.
    // Runs on every log message: no allocation on the way to "nothing to mask".
    let has_bearer = || {
        text.as_bytes()
            .windows(6)
            .any(|w| w.eq_ignore_ascii_case(b"bearer"))
    };
    if !text.contains(['=', ':']) && !has_bearer() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if mask_next && !word.is_empty() {
            out.push_str(REDACTED);
            // `Authorization: Bearer abc`: the scheme and the credentials both go.
            mask_next = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic");
            continue;
        }
        mask_next = word.eq_ignore_ascii_case("bearer");
        // `a=1&token=x;b=2`: each pair on its own, separators kept.
        let mut rest = word;
        loop {
            let end = rest.find(['&', ';', ',']).unwrap_or(rest.len());
            let pair = &rest[..end];
            match pair.find(['=', ':']) {
                Some(at)
                    if at > 0
                        && is_secret_name(
                            pair[..at].trim_start_matches(['(', '[', '{', '"', '\'']),
                        ) =>
                {
                    out.push_str(&pair[..=at]);
                    if at + 1 == pair.len() {
                        mask_next = true;
                    } else {
                        out.push_str(REDACTED);
                    }
                }
                _ => out.push_str(pair),
            }
            if end == rest.len() {
                break;
            }
            out.push_str(&rest[end..=end]);
            rest = &rest[end + 1..];
        }
    }
    std::borrow::Cow::Owned(out)
}

fn decode(name: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(name).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_free_text_are_masked() {
        for (text, expected) in [
            ("no secrets here", "no secrets here"),
            ("at 10:30 ok", "at 10:30 ok"),
            (
                "Authorization: Bearer canary-1",
                "Authorization: [REDACTED] [REDACTED]",
            ),
            (
                "failed with token=canary-2 for x",
                "failed with token=[REDACTED] for x",
            ),
            ("cookie:session=canary-3", "cookie:[REDACTED]"),
            ("sent bearer canary-4", "sent bearer [REDACTED]"),
            ("x-api-key= canary-5", "x-api-key= [REDACTED]"),
        ] {
            assert_eq!(redact_text(text), expected, "{text}");
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
