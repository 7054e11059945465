//! Keeps secrets out of telemetry: a value whose name looks secret is never written, nor is a
//! credential in free text (after an authorization scheme, in a URL's userinfo or query).

use std::borrow::Cow;
use std::ops::Range;

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
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    }
}

/// Free text (a message, a panic's payload, an error chain, a raw event) with every credential
/// masked:
///
/// - the value of a secret-looking `name=value`, `name: value`, `"name": "value"` pair
///   (`token=[REDACTED]`, `"cookie": "[REDACTED]"`);
/// - what follows an authorization scheme (`Bearer`, `Basic`, `Digest`, `Negotiate`, `NTLM`,
///   `token`, `AWS4-HMAC-SHA256`), or any scheme after `Authorization:`: the scheme is kept,
///   the credentials go (`Authorization: Bearer [REDACTED]`);
/// - in a URL (`https://...`), the password of its userinfo and the values of secret-looking
///   parameters of its query and fragment, whichever their position.
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
        // Ranges are in order and do not overlap; a later one inside an earlier one is skipped.
        if mask.start < at {
            continue;
        }
        out.push_str(&text[at..mask.start]);
        out.push_str(REDACTED);
        at = mask.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// How an authorization scheme carries its credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// One word, always a credential: `Bearer <token>`.
    Word,
    /// One word, when it looks like a credential rather than prose: `Basic dXNlcjpwYXNz`,
    /// `token ghp_1a2b`, but not "token expired".
    WordIfCredential,
    /// Comma-separated `name=value` parameters: `Digest username="a", response="..."`,
    /// `AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=..., Signature=...`.
    Params,
}

/// The authorization schemes of the IANA registry (RFC 9110 §11) that carry credentials,
/// AWS Signature Version 4, and GitHub's `token`, by their lower-case names.
const SCHEMES: [(&str, Credentials); 7] = [
    ("bearer", Credentials::Word),
    ("basic", Credentials::WordIfCredential),
    ("token", Credentials::WordIfCredential),
    ("negotiate", Credentials::WordIfCredential),
    ("ntlm", Credentials::WordIfCredential),
    ("digest", Credentials::Params),
    ("aws4-hmac-sha256", Credentials::Params),
];

fn scheme(word: &str) -> Option<Credentials> {
    SCHEMES
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|&(_, credentials)| credentials)
}

/// A name longer than this is a hash or a token, not a field name.
const MAX_NAME_LEN: usize = 64;

/// Walks free text once, left to right, collecting the byte ranges to mask.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    masks: Vec<Range<usize>>,
}

/// Characters of a field or parameter name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Where a value that is not quoted ends: at a blank, a pair separator, or the closing quote
/// or bracket of what holds it.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b';' | b',' | b'"' | b'\'' | b')' | b']' | b'}')
}

impl<'a> Scanner<'a> {
    fn masks(text: &'a str) -> Vec<Range<usize>> {
        let mut scanner = Scanner {
            text,
            bytes: text.as_bytes(),
            masks: Vec::new(),
        };
        // The common case, a short message without a pair, a URL or a scheme, costs one scan
        // and no allocation.
        if !text.contains(['=', ':']) && !text.split_ascii_whitespace().any(|w| scheme(w).is_some())
        {
            return scanner.masks;
        }
        let mut at = 0;
        while at < scanner.bytes.len() {
            if scanner.bytes[at].is_ascii_whitespace() {
                at += 1;
            } else {
                at = scanner.word(at);
            }
        }
        scanner.masks
    }

    fn mask(&mut self, range: Range<usize>) {
        // Masking is idempotent: text that went through here once (a query in the access
        // line, an item scrubbed twice) keeps its masks as they are.
        let masked_already = self.text[range.start..].starts_with(REDACTED)
            && range.end <= range.start + REDACTED.len();
        if !range.is_empty() && !masked_already {
            self.masks.push(range);
        }
    }

    /// The end of the blank-delimited word starting at `start`.
    fn word_end(&self, start: usize) -> usize {
        self.bytes[start..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(self.bytes.len(), |n| start + n)
    }

    /// The word at `start` without the punctuation that closes what holds it (`abc",` → `abc`).
    fn trimmed_end(&self, start: usize, end: usize) -> usize {
        let mut end = end;
        while end > start
            && matches!(
                self.bytes[end - 1],
                b'"' | b'\'' | b',' | b';' | b')' | b']' | b'}'
            )
        {
            end -= 1;
        }
        end
    }

    /// The next word after the blanks from `at`, as `(start, end)`.
    fn next_word(&self, at: usize) -> Option<(usize, usize)> {
        let start = at
            + self.bytes[at..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())?;
        Some((start, self.word_end(start)))
    }

    /// Scans the word starting at `start`; returns where scanning goes on (past the word, or
    /// past the credentials that follow it).
    fn word(&mut self, start: usize) -> usize {
        let end = self.word_end(start);
        let bare = self.text[start..end].trim_start_matches(['"', '\'', '(', '[', '{']);
        if let Some(credentials) = scheme(bare) {
            return self.credentials(end, credentials, false);
        }
        self.pairs(start, end)
    }

    /// The `name=value` pairs and URLs inside the word `start..end`.
    fn pairs(&mut self, start: usize, end: usize) -> usize {
        let mut at = start;
        while at < end {
            let b = self.bytes[at];
            if !is_name_byte(b) {
                at += 1;
                continue;
            }
            // A name starts here and runs to `name_end`.
            let name_end = self.bytes[at..end]
                .iter()
                .position(|&b| !is_name_byte(b))
                .map_or(end, |n| at + n);
            let name = &self.text[at..name_end];
            let before = at.checked_sub(1).map(|i| self.bytes[i]);
            let quoted = matches!(before, Some(b'"' | b'\''));
            // `"name": value`: the closing quote sits between the name and the separator.
            let mut separator = name_end;
            if quoted && before == self.bytes.get(separator).copied() {
                separator += 1;
            }
            let Some(&sep) = self
                .bytes
                .get(separator)
                .filter(|b| matches!(b, b'=' | b':'))
            else {
                at = name_end;
                continue;
            };
            let value = separator + 1;
            if sep == b':' && self.text[value..].starts_with("//") {
                at = self.url(value + 2);
                if at >= end {
                    return at;
                }
                continue;
            }
            // A path's segment (`src/auth.rs`, `app::auth::f`) is not a name, nor is a
            // token-long run.
            let in_path = matches!(before, Some(b'/' | b'\\'))
                || self.text[..at].ends_with("::")
                || (sep == b':' && self.text[value..].starts_with(':'));
            if in_path
                || name.len() > MAX_NAME_LEN
                || !is_secret_name(name)
                || (sep == b':' && self.is_location_or_port(name, value))
            {
                at = name_end;
                continue;
            }
            at = self.value(value);
            if at >= end {
                return at;
            }
        }
        end
    }

    /// `file.rs:12:5`, `auth.example.com:443`: a dotted name whose last part is not itself a
    /// secret name, followed by a number and maybe a second one.
    fn is_location_or_port(&self, name: &str, value: usize) -> bool {
        let Some((_, last)) = name.rsplit_once('.') else {
            return false;
        };
        let rest = &self.bytes[value..];
        let digits = |from: usize| {
            rest[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut n = digits(0);
        if n == 0 {
            return false;
        }
        if rest.get(n) == Some(&b':') && digits(n + 1) > 0 {
            n += 1 + digits(n + 1);
        }
        let number_ends = rest.get(n).is_none_or(|b| !b.is_ascii_alphanumeric());
        number_ends && !is_secret_name(last)
    }

    /// Masks the value of a secret pair that starts at `at`, just after the separator;
    /// returns where scanning goes on.
    fn value(&mut self, at: usize) -> usize {
        let Some((start, end)) = self.next_word(at) else {
            return self.bytes.len();
        };
        match self.bytes[start] {
            quote @ (b'"' | b'\'') => return self.quoted(start, quote),
            b'[' if self.text[start..].starts_with(REDACTED) => return start + REDACTED.len(),
            b'[' | b'{' => return self.bracketed(start),
            _ => {}
        }
        if start == at {
            // `token=abc&page=2`: the value ends with the pair.
            let value_end = self.bytes[start..end]
                .iter()
                .position(|&b| ends_value(b))
                .map_or(end, |n| start + n);
            // `Authorization:Bearer abc`.
            if value_end == end
                && let Some(credentials) = scheme(&self.text[start..end])
            {
                return self.credentials(end, credentials, true);
            }
            self.mask(start..value_end);
            return value_end;
        }
        // `Authorization: Bearer abc`, `x-api-key= abc`: the value is the next word.
        let value_end = self.trimmed_end(start, end);
        if value_end == start {
            return end;
        }
        if let Some(credentials) = scheme(&self.text[start..value_end]) {
            return self.credentials(end, credentials, true);
        }
        self.mask(start..value_end);
        let mut last_end = end;
        // An unknown scheme (`Authorization: SSWS 00abc`): a capitalised word, and the
        // credentials after it.
        let word = &self.bytes[start..value_end];
        let scheme_like = word[0].is_ascii_uppercase()
            && word.len() <= 32
            && word.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if scheme_like
            && value_end == end
            && let Some((next, next_end)) = self.next_word(end)
        {
            self.mask(next..self.trimmed_end(next, next_end));
            last_end = next_end;
        }
        // `Cookie: a=1; b=2`: a list of pairs goes on while each ends with `;` or `,`.
        while matches!(self.bytes[last_end - 1], b';' | b',') {
            match self.next_word(last_end) {
                Some((next, next_end)) if self.text[next..next_end].contains('=') => {
                    self.mask(next..self.trimmed_end(next, next_end));
                    last_end = next_end;
                }
                _ => break,
            }
        }
        last_end
    }

    /// Masks the inside of the `[...]` or `{...}` opening at `open`; returns the end of it.
    fn bracketed(&mut self, open: usize) -> usize {
        let (opening, closing) = match self.bytes[open] {
            b'[' => (b'[', b']'),
            _ => (b'{', b'}'),
        };
        let mut depth = 0usize;
        let mut at = open;
        while at < self.bytes.len() {
            match self.bytes[at] {
                quote @ (b'"' | b'\'') => {
                    at = self.skip_quoted(at, quote);
                    continue;
                }
                b if b == opening => depth += 1,
                b if b == closing => {
                    depth -= 1;
                    if depth == 0 {
                        self.mask(open + 1..at);
                        return at + 1;
                    }
                }
                _ => {}
            }
            at += 1;
        }
        self.mask(open + 1..self.bytes.len());
        self.bytes.len()
    }

    /// The end of the quoted string opening at `open` (past its closing quote), escapes
    /// skipped; the end of the text when it is never closed.
    fn skip_quoted(&self, open: usize, quote: u8) -> usize {
        let mut at = open + 1;
        while at < self.bytes.len() {
            match self.bytes[at] {
                b'\\' => at += 2,
                b if b == quote => return at + 1,
                _ => at += 1,
            }
        }
        self.bytes.len()
    }

    /// Masks the inside of the quoted string opening at `open`; returns the end of it.
    /// A string never closed is masked to the end of the text: all of it may be the secret.
    fn quoted(&mut self, open: usize, quote: u8) -> usize {
        let end = self.skip_quoted(open, quote);
        let inside_end = if self.bytes.get(end.wrapping_sub(1)) == Some(&quote) && end > open + 1 {
            end - 1
        } else {
            end
        };
        self.mask(open + 1..inside_end);
        end
    }

    /// Masks the credentials that follow a scheme word ending at `at`; `sure` when the context
    /// (`Authorization:`) says they are credentials whatever they look like. Returns where
    /// scanning goes on.
    fn credentials(&mut self, at: usize, credentials: Credentials, sure: bool) -> usize {
        let Some((start, end)) = self.next_word(at) else {
            return self.bytes.len();
        };
        let value_end = self.trimmed_end(start, end);
        let word = &self.text[start..value_end];
        match credentials {
            Credentials::Word => {}
            Credentials::WordIfCredential if sure || looks_like_credential(word) => {}
            Credentials::Params if sure || word.contains('=') => {
                // The parameters go on while each ends with a comma.
                let mut last = (start, end);
                while self.bytes[last.1 - 1] == b',' {
                    match self.next_word(last.1) {
                        Some(next) => last = next,
                        None => break,
                    }
                }
                // Parameter values are often quoted: the closing quote goes with them.
                let mut params_end = last.1;
                while matches!(self.bytes[params_end - 1], b',' | b';' | b')' | b']' | b'}') {
                    params_end -= 1;
                }
                self.mask(start..params_end);
                return params_end;
            }
            _ => return start,
        }
        self.mask(start..value_end);
        value_end
    }

    /// A URL whose authority starts at `authority`, after `://`: masks its userinfo's password (all of a userinfo without one: it is then a
    /// token) and the secret-looking parameters of its query and fragment. Returns its end.
    fn url(&mut self, authority: usize) -> usize {
        let end = self.bytes[authority..]
            .iter()
            .position(|&b| {
                b.is_ascii_whitespace()
                    // Not `]`: it closes an IPv6 host (`http://[::1]:8080/`), and a mask.
                    || matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b')' | b'|')
            })
            .map_or(self.bytes.len(), |n| authority + n);
        let authority_end = self.bytes[authority..end]
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .map_or(end, |n| authority + n);
        if let Some(at) = self.text[authority..authority_end].rfind('@') {
            let userinfo = authority..authority + at;
            match self.text[userinfo.clone()].find(':') {
                Some(colon) => self.mask(userinfo.start + colon + 1..userinfo.end),
                None => self.mask(userinfo),
            }
        }
        let query = self.text[authority_end..end]
            .find('?')
            .map(|n| authority_end + n + 1);
        let fragment = self.text[authority_end..end]
            .find('#')
            .map(|n| authority_end + n + 1);
        if let Some(query) = query {
            self.parameters(query..fragment.map_or(end, |f| f - 1));
        }
        if let Some(fragment) = fragment {
            // `#access_token=...`: OAuth's implicit flow hands tokens over in the fragment.
            self.parameters(fragment..end);
        }
        end
    }

    /// The values of secret-looking parameters in `name=value&name=value` (or `;`).
    fn parameters(&mut self, range: Range<usize>) {
        let mut at = range.start;
        for pair in self.text[range].split(['&', ';']) {
            if let Some((name, value)) = pair.split_once('=')
                && is_secret_name(&decode(name))
            {
                let start = at + name.len() + 1;
                self.mask(start..start + value.len());
            }
            at += pair.len() + 1;
        }
    }
}

/// A word that reads as a credential rather than prose: with a digit, a symbol of base64 or
/// tokens, or a capital after its first letter (`dXNlcjpwYXNz`, `ghp_1a2b`, not `expired`).
fn looks_like_credential(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.iter().any(|b| {
        b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~' | b':')
    }) || bytes.iter().skip(1).any(u8::is_ascii_uppercase)
}

fn decode(name: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(name).decode_utf8_lossy()
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
        ] {
            assert_eq!(redact_text(text), text);
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text}");
        }
    }

    proptest::proptest! {
        /// Text near the shapes the scanner reads (quotes, brackets, separators, schemes,
        /// URLs, multi-byte letters), where slicing bugs would live, as well as anything.
        #[test]
        fn any_text_is_scanned_without_panicking_and_a_bearer_token_never_survives(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "((token|Bearer|Digest|https://|a:b@|\\?|auth|=|:|\"|'|\\\\|\\[|\\{|\\}|,|;|é| )){0,24}",
            ],
        ) {
            let once = redact_text(&text);
            proptest::prop_assert_eq!(redact_text(&once), once.clone(), "masking twice changes nothing");
            let with_bearer = format!("{text} Authorization: Bearer canary-42 ok");
            proptest::prop_assert!(!redact_text(&with_bearer).contains("canary-42"));
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
