//! Keeps secrets out of telemetry: a value whose name looks secret is never written, nor is a
//! credential in free text (after an authorization scheme, in a URL's userinfo or query, a
//! JWT). Log lines and Rollbar items are masked as they are made; spans once, in the flush,
//! before any exporter sees them ([`redact_span`]).

use std::borrow::Cow;
use std::ops::Range;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::constants::{REDACTED, SECRET_NAME_PARTS, SECRET_URL_PARAMETERS};

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

/// The span with every secret masked, in place, before any exporter (OTLP, X-Ray, console)
/// sees it: the value of an attribute (of the span, its events, its links) whose name is
/// secret, and by [`redact_text`] every other string value, the span's and its events' names
/// (an event's name is its `tracing` message) and the status description. An `exception`
/// event's message and stack trace, a reqwest error quoting a URL, a secret-named field of a
/// `tracing` span or event: all are masked here once, for every exporter. Nothing is copied
/// when nothing is masked.
pub(crate) fn redact_span(span: &mut SpanData) {
    redact_cow(&mut span.name);
    redact_attributes(&mut span.attributes);
    for event in &mut span.events.events {
        redact_cow(&mut event.name);
        redact_attributes(&mut event.attributes);
    }
    for link in &mut span.links.links {
        redact_attributes(&mut link.attributes);
    }
    if let Status::Error { description } = &mut span.status {
        redact_cow(description);
    }
}

/// Attributes `tracing-opentelemetry` writes from a callsite's metadata (its file, module and
/// line): compile-time text, never a request's, so not scanned. Every span and span event has
/// them, and their values are long paths: scanning them was most of the masking's cost.
/// (`level` and `target` are not among them: the crate turns those off, so a field of that
/// name is the application's own.)
const CALLSITE_ATTRIBUTES: [&str; 3] = ["code.file.path", "code.module.name", "code.line.number"];

fn redact_attributes(attributes: &mut [KeyValue]) {
    for attribute in attributes {
        let key = attribute.key.as_str();
        if CALLSITE_ATTRIBUTES.contains(&key) {
            continue;
        }
        if is_secret_name(key) {
            // Whatever its type: a PIN is a number.
            if !matches!(&attribute.value, Value::String(s) if s.as_str() == REDACTED) {
                attribute.value = Value::String(StringValue::from(REDACTED));
            }
            continue;
        }
        match &mut attribute.value {
            Value::String(text) => redact_string_value(text),
            Value::Array(Array::String(texts)) => texts.iter_mut().for_each(redact_string_value),
            _ => {}
        }
    }
}

fn redact_string_value(text: &mut StringValue) {
    if let Cow::Owned(masked) = redact_text(text.as_str()) {
        *text = StringValue::from(masked);
    }
}

fn redact_cow(text: &mut Cow<'static, str>) {
    if let Cow::Owned(masked) = redact_text(text) {
        *text = Cow::Owned(masked);
    }
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

/// What opens a value or a structure before a word: `"Bearer`, `(token`.
const OPENERS: [char; 5] = ['"', '\'', '(', '[', '{'];

/// How a JWT begins: `{"` in base64url.
const JWT_START: &str = "eyJ";

/// Fewer characters than the shortest JOSE header (`{"alg":"none"}`, 19 in base64url): a
/// shorter `eyJ` run is not a JWT.
const MIN_JWT_HEADER_LEN: usize = 16;

/// A character of base64url (RFC 4648 §5), the alphabet of a JWT's parts.
fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

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
        // The common case, a short message without a pair, a URL, a scheme or a JWT, costs a
        // few scans and no allocation.
        let pairs = text.contains(['=', ':'])
            || text
                .split_ascii_whitespace()
                .any(|w| scheme(w.trim_start_matches(OPENERS)).is_some());
        if pairs {
            let mut at = 0;
            while at < scanner.bytes.len() {
                if scanner.bytes[at].is_ascii_whitespace() {
                    at += 1;
                } else {
                    at = scanner.word(at);
                }
            }
        }
        if text.contains(JWT_START) {
            let found = scanner.masks.len();
            scanner.jwts();
            if scanner.masks.len() > found {
                scanner.masks.sort_unstable_by_key(|mask| mask.start);
            }
        }
        scanner.masks
    }

    /// Masks every JWT: a JOSE header (`{"` in base64url is `eyJ`), a payload and a signature
    /// (two more parts for an encrypted one), joined by dots. It needs no name: ALB's
    /// `x-amzn-oidc-data`, an `id_token` pasted in a message.
    fn jwts(&mut self) {
        let part_end = |from: usize| {
            from + self.bytes[from..]
                .iter()
                .take_while(|&&b| is_base64url(b))
                .count()
        };
        let mut from = 0;
        while let Some(n) = self.text[from..].find(JWT_START) {
            let start = from + n;
            from = start + JWT_START.len();
            if start > 0 && is_base64url(self.bytes[start - 1]) {
                continue;
            }
            let header_end = part_end(start);
            if header_end - start < MIN_JWT_HEADER_LEN || self.bytes.get(header_end) != Some(&b'.')
            {
                continue;
            }
            let payload_end = part_end(header_end + 1);
            if payload_end == header_end + 1 || self.bytes.get(payload_end) != Some(&b'.') {
                continue;
            }
            // An unsecured JWT has an empty signature; an encrypted one has five parts.
            let mut end = part_end(payload_end + 1);
            while self.bytes.get(end) == Some(&b'.') {
                let next = part_end(end + 1);
                if next == end + 1 {
                    break;
                }
                end = next;
            }
            self.masks.push(start..end);
            from = end;
        }
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
        let bare = self.text[start..end].trim_start_matches(OPENERS);
        if let Some(credentials) = scheme(bare) {
            // `token = x` is a pair (below), not the scheme `token`.
            let separator_follows = self
                .next_word(end)
                .is_some_and(|(next, _)| matches!(self.bytes[next], b'=' | b':'));
            if !separator_follows {
                return self.credentials(end, credentials, false);
            }
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
            // `"name": value`: the closing quote sits between the name and the separator;
            // escaped (`\"name\":`) in JSON quoted inside a string.
            let mut separator = name_end;
            if quoted {
                if before == self.bytes.get(separator).copied() {
                    separator += 1;
                } else if self.bytes.get(separator) == Some(&b'\\')
                    && before == self.bytes.get(separator + 1).copied()
                {
                    separator += 2;
                }
            }
            // `password = x`, `"password" : "x"`: blanks around the separator.
            let blanks = self.bytes[separator..]
                .iter()
                .take_while(|&&b| matches!(b, b' ' | b'\t'))
                .count();
            separator += blanks;
            let Some(&sep) = self
                .bytes
                .get(separator)
                .filter(|b| matches!(b, b'=' | b':'))
            else {
                at = name_end;
                continue;
            };
            let value = separator + 1;
            // `token == expected`, `Token => x`: a comparison or a match arm, not a pair.
            if blanks > 0 && matches!(self.bytes.get(value), Some(b'=' | b'>')) {
                at = name_end;
                continue;
            }
            if blanks == 0 && sep == b':' && self.text[value..].starts_with("//") {
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
        // After blanks, a secret name followed by a separator names the next pair: this one
        // is empty (`password= "token" : "x"`).
        if start > at && self.names_a_pair(start, end) {
            return start;
        }
        match self.bytes[start] {
            quote @ (b'"' | b'\'') => return self.quoted(start, quote),
            b'\\' if self.bytes.get(start + 1) == Some(&b'"') => return self.escaped_quoted(start),
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

    /// `true` when the word `start..end` is a secret name (quoted or not) and the next word
    /// starts with a separator: `password = x`, `"token" : "x"`.
    fn names_a_pair(&self, start: usize, end: usize) -> bool {
        let name = self.text[start..end].trim_matches(['"', '\'', '\\']);
        !name.is_empty()
            && name.bytes().all(is_name_byte)
            && is_secret_name(name)
            && self
                .next_word(end)
                .is_some_and(|(next, _)| matches!(self.bytes[next], b'=' | b':'))
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

    /// Masks the inside of the escaped string (`\"...\"`) opening at `open`, in JSON quoted
    /// inside a string; returns the end of it. Its closing quote is the one that unescapes to a
    /// quote of the inner JSON: one backslash before it, or five, and so on; three escape a
    /// quote inside the value. Never closed, it is masked to the end of the text.
    fn escaped_quoted(&mut self, open: usize) -> usize {
        let inside = open + 2;
        let mut at = inside;
        while at < self.bytes.len() {
            if self.bytes[at] == b'"' {
                let backslashes = self.bytes[inside..at]
                    .iter()
                    .rev()
                    .take_while(|&&b| b == b'\\')
                    .count();
                if backslashes % 4 == 1 {
                    self.mask(inside..at - 1);
                    return at + 1;
                }
            }
            at += 1;
        }
        self.mask(inside..self.bytes.len());
        self.bytes.len()
    }

    /// Masks the credentials that follow a scheme word ending at `at`; `sure` when the context
    /// (`Authorization:`) says they are credentials whatever they look like. Returns where
    /// scanning goes on.
    fn credentials(&mut self, at: usize, credentials: Credentials, sure: bool) -> usize {
        let Some((start, end)) = self.next_word(at) else {
            return self.bytes.len();
        };
        if self.names_a_pair(start, end) {
            // `Bearer password = x`: no credentials, then a pair.
            return start;
        }
        let value_end = self.trimmed_end(start, end);
        let word = &self.text[start..value_end];
        if is_source_location(word) {
            // `missing bearer src/auth.rs:12:5`: where it happened, not a credential.
            return start;
        }
        match credentials {
            Credentials::Word => {}
            Credentials::WordIfCredential if sure || looks_like_credential(word) => {}
            Credentials::Params if sure || word.contains('=') => {
                // The parameters go on while each ends with a comma.
                let mut last = (start, end);
                while self.bytes[last.1 - 1] == b',' {
                    match self.next_word(last.1) {
                        // `password = x` after the parameters is a pair of its own.
                        Some(next) if !self.names_a_pair(next.0, next.1) => last = next,
                        _ => break,
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
        let fragment = self.text[authority_end..end]
            .find('#')
            .map(|n| authority_end + n + 1);
        // A `?` after the `#` belongs to the fragment.
        let query = self.text[authority_end..fragment.map_or(end, |f| f - 1)]
            .find('?')
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
                && is_secret_parameter(&decode(name))
            {
                let start = at + name.len() + 1;
                self.mask(start..start + value.len());
            }
            at += pair.len() + 1;
        }
    }
}

/// `src/auth.rs:12:5`, `./src/auth.rs:12`, `main.rs:3:1`: a Rust file (or any file in a
/// directory) with a line and maybe a column, as panics, backtraces and `file!()`/`line!()`
/// write them. No credential has this shape: `Basic user.name:1234` (no directory, no `.rs`)
/// is not one.
fn is_source_location(word: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some((rest, _)) = word.rsplit_once(':').filter(|(_, n)| number(n)) else {
        return false;
    };
    let file = match rest.rsplit_once(':') {
        Some((file, line)) if number(line) => file,
        _ => rest,
    };
    let Some((stem, extension)) = file.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !extension.is_empty()
        && extension.bytes().all(|b| b.is_ascii_alphanumeric())
        && (extension == "rs" || stem.contains(['/', '\\']))
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
    const BACKTRACE: &str = "   0: lambda_telemetry::panics::log_panic
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

    mod spans {
        use std::time::{Duration, UNIX_EPOCH};

        use opentelemetry::trace::{
            Event, Link, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState,
        };
        use opentelemetry::{InstrumentationScope, KeyValue};
        use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

        use super::*;

        const URL: &str = "https://api.example/v1?api_key=canary-1";

        fn context() -> SpanContext {
            SpanContext::new(
                TraceId::from_hex("6553f1003a9bfa2c8a1e2b6f01234567").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            )
        }

        fn span(
            attributes: Vec<KeyValue>,
            events: Vec<Event>,
            links: Vec<Link>,
            status: Status,
        ) -> SpanData {
            let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let mut span_events = SpanEvents::default();
            span_events.events = events;
            let mut span_links = SpanLinks::default();
            span_links.links = links;
            SpanData {
                span_context: context(),
                parent_span_id: SpanId::INVALID,
                parent_span_is_remote: false,
                span_kind: SpanKind::Server,
                name: Cow::Borrowed("GET /api/activities/{handle}"),
                start_time: start,
                end_time: start + Duration::from_millis(2),
                attributes,
                dropped_attributes_count: 0,
                events: span_events,
                links: span_links,
                status,
                instrumentation_scope: InstrumentationScope::builder("test").build(),
            }
        }

        fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
            Event::new(name.to_owned(), UNIX_EPOCH, attributes, 0)
        }

        /// Everything OTLP and X-Ray export of a span, as text.
        fn exported(span: &SpanData) -> String {
            format!("{span:?}")
        }

        /// The brief: a secret "never reaches a log line, span, metric, error report or
        /// error message". A span carries free text in its attributes, its events (an
        /// `exception` event's message and stack trace; a `tracing` event's message is the
        /// span event's name, its fields its attributes), its links and its status.
        #[test]
        fn no_secret_survives_in_any_part_of_a_span() {
            let mut span = span(
                vec![
                    // `tracing::info_span!("x", password = ...)`, a number too.
                    KeyValue::new("password", "canary-2"),
                    KeyValue::new("app.pin_secret", 1234),
                    KeyValue::new("user_agent.original", "curl/8 (token=canary-3)"),
                    KeyValue::new(
                        "app.urls",
                        opentelemetry::Value::Array(
                            vec![StringValue::from("ok"), StringValue::from(URL)].into(),
                        ),
                    ),
                ],
                vec![
                    event(
                        "exception",
                        vec![
                            KeyValue::new("exception.type", "error"),
                            KeyValue::new(
                                "exception.message",
                                format!(
                                    "error sending request for url ({URL}): connection refused"
                                ),
                            ),
                            KeyValue::new(
                                "exception.stacktrace",
                                "0: handler\n   at src/handler.rs:12:5 with Bearer canary-4",
                            ),
                        ],
                    ),
                    event(
                        "calling https://u:canary-5@db.example/x",
                        vec![KeyValue::new("authorization", "Bearer canary-6")],
                    ),
                ],
                vec![Link::new(
                    context(),
                    vec![KeyValue::new("note", "session=canary-7")],
                    0,
                )],
                Status::error(format!("upstream {URL} failed")),
            );
            redact_span(&mut span);
            let text = exported(&span);
            assert!(!text.contains("canary"), "{text}");
            assert_eq!(span.attributes[0].value.as_str(), REDACTED);
            assert_eq!(span.attributes[1].value.as_str(), REDACTED);
            assert_eq!(
                span.attributes[2].value.as_str(),
                "curl/8 (token=[REDACTED])"
            );
            let message = &span.events[0].attributes[1];
            assert_eq!(
                message.value.as_str(),
                "error sending request for url (https://api.example/v1?api_key=[REDACTED]): \
                 connection refused",
                "the error stays readable"
            );
            assert_eq!(
                span.events[0].attributes[2].value.as_str(),
                "0: handler\n   at src/handler.rs:12:5 with Bearer [REDACTED]",
                "the location is kept"
            );
            assert_eq!(
                span.events[1].name,
                "calling https://u:[REDACTED]@db.example/x"
            );
            assert_eq!(
                span.status,
                Status::error("upstream https://api.example/v1?api_key=[REDACTED] failed")
            );
        }

        /// Masking runs on every span of every flush: a span without secrets comes out as it
        /// went in, its static name still borrowed, and masking twice changes nothing.
        #[test]
        fn a_span_without_secrets_is_left_alone() {
            let clean = span(
                vec![
                    KeyValue::new("http.route", "/api/activities/{handle}"),
                    KeyValue::new("code.filepath", "src/handler.rs:12:5"),
                    KeyValue::new("http.response.status_code", 500),
                    KeyValue::new(
                        "aws.lambda.invoked_arn",
                        "arn:aws:lambda:us-east-1:1:function:f",
                    ),
                ],
                vec![event(
                    "Hello Cloudwatch! from /api/activities/home",
                    vec![KeyValue::new("status", "code=500")],
                )],
                Vec::new(),
                Status::error("handler failed"),
            );
            let mut span = clean.clone();
            redact_span(&mut span);
            assert_eq!(span, clean);
            assert!(matches!(span.name, Cow::Borrowed(_)));

            let mut secret = span_with_secret();
            redact_span(&mut secret);
            let once = secret.clone();
            redact_span(&mut secret);
            assert_eq!(secret, once, "masking twice changes nothing");
        }

        /// The `exception` event's `exception.stacktrace` (OTLP shows it, X-Ray makes its
        /// `cause.exceptions[].stack` of it) keeps every frame's location through the masking
        /// of the flush.
        #[test]
        fn an_exception_stacktrace_keeps_every_location() {
            let backtrace = std::backtrace::Backtrace::force_capture().to_string();
            for stacktrace in [backtrace.as_str(), super::BACKTRACE] {
                let exception = event(
                    "exception",
                    vec![
                        KeyValue::new("exception.type", "panic"),
                        KeyValue::new("exception.stacktrace", stacktrace.to_owned()),
                    ],
                );
                let mut span = span(Vec::new(), vec![exception], Vec::new(), Status::Unset);
                redact_span(&mut span);
                assert_eq!(
                    span.events[0].attributes[1].value.as_str(),
                    stacktrace,
                    "kept as it is"
                );
            }
        }

        fn span_with_secret() -> SpanData {
            span(
                vec![KeyValue::new("token", "canary"), KeyValue::new("u", URL)],
                Vec::new(),
                Vec::new(),
                Status::Unset,
            )
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
