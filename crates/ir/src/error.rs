use std::fmt;

/// One error type for the IR crate. Messages are one line, name the file,
/// node or op involved, and never contain tensor values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }
    pub fn file(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        Error::File {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }
}
