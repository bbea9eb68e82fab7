//! Subject tokens: the strict grammar for every caller-supplied value that becomes part of a NATS subject.
//!
//! A token is 1 to 64 characters of lowercase ASCII letters, digits and '-', starting with a letter or digit.
//! That rules out '.', '*', '>', whitespace and everything else that could change the meaning of a subject.

use std::fmt;
use std::sync::Arc;

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 64;

/// A validated subject token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(Arc<str>);

/// A party (agency, office, fusion center, foreign partner) identified by a token such as `cbp` or `ia`.
pub type PartyId = Token;

/// A program area such as `money-laundering`, as a token.
pub type Topic = Token;

/// Why a string is not a valid token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid token: {problem}")]
pub struct InvalidToken {
    /// The offending value, truncated for display.
    pub value: String,
    /// What rule it breaks.
    pub problem: &'static str,
}

// === impl Token ===

impl Token {
    /// Validates `value` against the token grammar.
    pub fn parse(value: &str) -> Result<Token, InvalidToken> {
        let problem = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > MAX_TOKEN_LEN {
            Some("it is longer than 64 characters")
        } else if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            Some("only lowercase letters, digits and '-' are allowed")
        } else if value.starts_with('-') {
            Some("it must start with a letter or digit")
        } else {
            None
        };
        match problem {
            None => Ok(Token(Arc::from(value))),
            Some(problem) => Err(InvalidToken { value: value.chars().take(MAX_TOKEN_LEN + 8).collect(), problem }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Lets maps keyed by token be searched with a plain `&str` (hash and equality agree with `str`'s).
impl std::borrow::Borrow<str> for Token {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Token {
    type Err = InvalidToken;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Token::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, ok: bool) {
        assert_eq!(Token::parse(value).is_ok(), ok, "token {value:?}");
    }

    #[test]
    fn grammar() {
        for good in ["cbp", "ia", "norad-northcom", "money-laundering", "x1", "9", &"a".repeat(64)] {
            check(good, true);
        }
        for bad in ["", "CBP", "a.b", "a*", ">", "a b", "a\tb", "-lead", "a_b", "café", "a>", &"a".repeat(65), "a\n"] {
            check(bad, false);
        }
    }

    #[test]
    fn error_names_the_rule() {
        let error = Token::parse("a.b").unwrap_err();
        assert!(error.to_string().contains("only lowercase letters"), "{error}");
    }
}
