//! Every failure a client can see, and its translation into a `tonic::Status` — the one place that does it.

use tonic::{Code, Status};

use crate::bus::BusError;
use crate::identity::AuthError;
use crate::router::RouteError;

/// Errors of the gateway's RPCs. Messages name the field or rule.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error("{0}")]
    PermissionDenied(String),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("{0}")]
    PartiallyStored(String),
    #[error("gateway is shutting down")]
    ShuttingDown,
}

impl GatewayError {
    pub fn code(&self) -> Code {
        match self {
            GatewayError::InvalidArgument(_) => Code::InvalidArgument,
            GatewayError::TooLarge(_) => Code::ResourceExhausted,
            GatewayError::Unauthenticated(_) => Code::Unauthenticated,
            GatewayError::PermissionDenied(_) => Code::PermissionDenied,
            GatewayError::Route(RouteError::UnknownOrigin(_)) => Code::PermissionDenied,
            GatewayError::Route(RouteError::TooManyRecipients(_)) => Code::InvalidArgument,
            GatewayError::Bus(BusError::Timeout) => Code::DeadlineExceeded,
            GatewayError::Bus(BusError::TooLarge { .. }) => Code::ResourceExhausted,
            GatewayError::Bus(_)
            | GatewayError::PartiallyStored(_)
            | GatewayError::ShuttingDown => Code::Unavailable,
        }
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Status {
        let code = error.code();
        if code == Code::Unavailable || code == Code::DeadlineExceeded {
            tracing::warn!(%error, "request failed");
        }
        Status::new(code, error.to_string())
    }
}
