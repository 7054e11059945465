//! The scanner: walks free text once, left to right, and collects the byte ranges to mask.
//! What a word turns out to be is handled by the sibling modules: `pairs` (`name=value`,
//! quoted and bracketed values) and `credentials` (authorization schemes, URLs).

use std::ops::Range;

use crate::constants::REDACTED;

/// How an authorization scheme carries its credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Credentials {
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
pub(super) const SCHEMES: [(&str, Credentials); 7] = [
    ("bearer", Credentials::Word),
    ("basic", Credentials::WordIfCredential),
    ("token", Credentials::WordIfCredential),
    ("negotiate", Credentials::WordIfCredential),
    ("ntlm", Credentials::WordIfCredential),
    ("digest", Credentials::Params),
    ("aws4-hmac-sha256", Credentials::Params),
];

pub(super) fn scheme(word: &str) -> Option<Credentials> {
    SCHEMES
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|&(_, credentials)| credentials)
}

/// A name longer than this is a hash or a token, not a field name.
pub(super) const MAX_NAME_LEN: usize = 64;

/// What opens a value or a structure before a word: `"Bearer`, `(token`.
pub(super) const OPENERS: [char; 5] = ['"', '\'', '(', '[', '{'];

/// How a JWT begins: `{"` in base64url.
pub(super) const JWT_START: &str = "eyJ";

/// Fewer characters than the shortest JOSE header (`{"alg":"none"}`, 19 in base64url): a
/// shorter `eyJ` run is not a JWT.
pub(super) const MIN_JWT_HEADER_LEN: usize = 16;

/// A character of base64url (RFC 4648 §5), the alphabet of a JWT's parts.
pub(super) fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// Walks free text once, left to right, collecting the byte ranges to mask.
pub(super) struct Scanner<'a> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    masks: Vec<Range<usize>>,
}

/// Characters of a field or parameter name.
pub(super) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Where a value that is not quoted ends: at a blank, a pair separator, or the closing quote
/// or bracket of what holds it.
pub(super) fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b';' | b',' | b'"' | b'\'' | b')' | b']' | b'}')
}

impl<'a> Scanner<'a> {
    pub(super) fn masks(text: &'a str) -> Vec<Range<usize>> {
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
    pub(super) fn jwts(&mut self) {
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

    pub(super) fn mask(&mut self, range: Range<usize>) {
        // Masking is idempotent: text that went through here once (a query in the access
        // line, an item scrubbed twice) keeps its masks as they are.
        let masked_already = self.text[range.start..].starts_with(REDACTED)
            && range.end <= range.start + REDACTED.len();
        if !range.is_empty() && !masked_already {
            self.masks.push(range);
        }
    }

    /// The end of the blank-delimited word starting at `start`.
    pub(super) fn word_end(&self, start: usize) -> usize {
        self.bytes[start..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(self.bytes.len(), |n| start + n)
    }

    /// The word at `start` without the punctuation that closes what holds it (`abc",` → `abc`).
    pub(super) fn trimmed_end(&self, start: usize, end: usize) -> usize {
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
    pub(super) fn next_word(&self, at: usize) -> Option<(usize, usize)> {
        let start = at
            + self.bytes[at..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())?;
        Some((start, self.word_end(start)))
    }

    /// Scans the word starting at `start`; returns where scanning goes on (past the word, or
    /// past the credentials that follow it).
    pub(super) fn word(&mut self, start: usize) -> usize {
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
}
