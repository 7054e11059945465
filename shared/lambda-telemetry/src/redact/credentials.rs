//! What follows an authorization scheme, a URL's userinfo and query, and the source
//! locations that look like neither.

use std::borrow::Cow;
use std::ops::Range;

use super::is_secret_parameter;
use super::scanner::{Credentials, Scanner};

impl Scanner<'_> {
    /// Masks the credentials that follow a scheme word ending at `at`; `sure` when the context
    /// (`Authorization:`) says they are credentials whatever they look like. Returns where
    /// scanning goes on.
    pub(super) fn credentials(&mut self, at: usize, credentials: Credentials, sure: bool) -> usize {
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
    pub(super) fn url(&mut self, authority: usize) -> usize {
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
    pub(super) fn parameters(&mut self, range: Range<usize>) {
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
pub(super) fn is_source_location(word: &str) -> bool {
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
pub(super) fn looks_like_credential(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.iter().any(|b| {
        b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~' | b':')
    }) || bytes.iter().skip(1).any(u8::is_ascii_uppercase)
}

pub(super) fn decode(name: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(name).decode_utf8_lossy()
}
