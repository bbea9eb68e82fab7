//! Errors in directory and policy files, located by file, line and field.

use std::fmt;

/// One problem in a directory or policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file's name (or `<embedded directory>` / `<embedded policy>`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field, e.g. `rule[3].to[1]`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// Where errors in one file are reported.
pub(super) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at a byte span of the file.
    pub fn error(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> LoadError {
        let line = self.text.get(..span.start).map(|before| before.matches('\n').count() + 1);
        LoadError { file: self.file.to_string(), line, field: field.into(), message: message.into() }
    }

    /// A TOML syntax or shape error, with the line toml reports.
    pub fn toml_error(&self, error: toml::de::Error) -> LoadError {
        let line =
            error.span().and_then(|span| self.text.get(..span.start)).map(|before| before.matches('\n').count() + 1);
        LoadError { file: self.file.to_string(), line, field: "toml".to_string(), message: error.message().to_string() }
    }
}
