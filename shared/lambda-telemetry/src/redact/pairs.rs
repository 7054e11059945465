//! `name=value`, `name: value` and `"name": "value"` pairs, and the values they hold.

use super::is_secret_name;
use super::scanner::{MAX_NAME_LEN, Scanner, ends_value, is_name_byte, scheme};
use crate::constants::REDACTED;

impl Scanner<'_> {
    /// The `name=value` pairs and URLs inside the word `start..end`.
    pub(super) fn pairs(&mut self, start: usize, end: usize) -> usize {
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
    pub(super) fn is_location_or_port(&self, name: &str, value: usize) -> bool {
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
    pub(super) fn value(&mut self, at: usize) -> usize {
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
    pub(super) fn names_a_pair(&self, start: usize, end: usize) -> bool {
        let name = self.text[start..end].trim_matches(['"', '\'', '\\']);
        !name.is_empty()
            && name.bytes().all(is_name_byte)
            && is_secret_name(name)
            && self
                .next_word(end)
                .is_some_and(|(next, _)| matches!(self.bytes[next], b'=' | b':'))
    }

    /// Masks the inside of the `[...]` or `{...}` opening at `open`; returns the end of it.
    pub(super) fn bracketed(&mut self, open: usize) -> usize {
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
    pub(super) fn skip_quoted(&self, open: usize, quote: u8) -> usize {
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
    pub(super) fn quoted(&mut self, open: usize, quote: u8) -> usize {
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
    pub(super) fn escaped_quoted(&mut self, open: usize) -> usize {
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
}
