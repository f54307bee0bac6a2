//! What a page shows when it cannot show what was asked: a page with the status code and
//! a sentence saying what was wrong and what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use sluice_service::Error as ServiceError;
use sluice_storage::StorageError;

use crate::layout::{Section, page};

/// Why a page or an action failed.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Nothing at this address (an unknown run, job, location, ...).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (a bad filter, a malformed form).
    #[error("{0}")]
    BadRequest(String),
    /// The operation failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Service(e) => match e {
                ServiceError::RunNotFound(_)
                | ServiceError::JobNotFound { .. }
                | ServiceError::LocationNotFound(_)
                | ServiceError::RepositoryNotFound { .. }
                | ServiceError::BackfillNotFound(_)
                | ServiceError::PartitionSetNotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::InvalidArgument(_)
                | ServiceError::InvalidRunConfig { .. }
                | ServiceError::InvalidSubset { .. }
                | ServiceError::Partition { .. }
                | ServiceError::PartitionKeysNotFound { .. }
                | ServiceError::RunConfigDocument(_)
                | ServiceError::ParentRunNotFound(_)
                | ServiceError::Storage(StorageError::UnknownCursor { .. }) => {
                    StatusCode::BAD_REQUEST
                }
                ServiceError::LocationUnavailable { .. } | ServiceError::CodeServer(_) => {
                    StatusCode::BAD_GATEWAY
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "a UI page failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            h1 { (title) }
            p.error-message role="alert" { (self.to_string()) }
            p { a href="/runs" { "Back to runs" } }
        };
        (status, page(title, Section::None, body)).into_response()
    }
}

/// A page handler's result.
pub(crate) type UiResult<T> = Result<T, UiError>;
