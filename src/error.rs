//! Expected failures, each with its documented exit code and one line for the user.

use crate::exit;

/// A failure the user can act on: one line on stderr and an exit code from [`crate::exit`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(exit::USAGE, message)
    }
}

pub type CliResult<T> = Result<T, CliError>;
