//! How an op fails: [`OpError`], the error class name each kind of failure is reported
//! under, and [`ResultExt`], which turns any error into one with `?`.

use std::time::Duration;

use crate::events::ErrorInfo;

/// How an op failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A failure that a retry policy may retry.
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
        /// The error that caused it, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A failure that must not be retried, whatever the policy says (Dagster's
    /// `Failure(allow_retries=False)`).
    #[error("{message}")]
    Fatal {
        /// What went wrong.
        message: String,
    },
    /// User code asks for another attempt (Dagster's `RetryRequested`), even without a
    /// retry policy.
    #[error("retry requested: {message}")]
    RetryRequested {
        /// Why another attempt is wanted.
        message: String,
        /// How many retries the step may have in all.
        max_retries: u32,
        /// The delay before the next attempt.
        delay: Duration,
    },
    /// An input was missing or of another type than the op asked for.
    #[error("input \"{name}\": {problem}")]
    Input {
        /// The input's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The op's config could not be read as the type asked for.
    #[error("config: {0}")]
    Config(String),
    /// A resource was not available as the type asked for.
    #[error("resource \"{key}\": {problem}")]
    Resource {
        /// The resource's key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl OpError {
    /// A retryable failure with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// A failure that is never retried.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::Fatal {
            message: message.into(),
        }
    }

    /// Wrap another error, keeping it as the cause.
    pub fn wrap(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed {
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }

    /// The error class name the failure is reported under.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Failed { .. } => "Failure",
            Self::Fatal { .. } => "Failure",
            Self::RetryRequested { .. } => "RetryRequested",
            Self::Input { .. } => "InputError",
            Self::Config(_) => "ConfigError",
            Self::Resource { .. } => "ResourceError",
        }
    }

    /// The failure as the error of an event.
    pub(crate) fn info(&self) -> ErrorInfo {
        ErrorInfo::from_error(self.kind(), self)
    }
}

/// Lets `?` turn any error into an op failure that keeps the error as its cause.
pub trait ResultExt<T> {
    /// Turn the error into an [`OpError`] that says what was being done.
    fn context(self, what: impl Into<String>) -> Result<T, OpError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T, OpError> {
        self.map_err(|e| OpError::wrap(what, e))
    }
}
