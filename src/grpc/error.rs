//! Every failure a client can see, and its translation into a `tonic::Status` — the one place that does it.

use tonic::{Code, Status};

use crate::bus::BusError;
use crate::identity::AuthError;
use crate::identity::authorization::Refusal;
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
    /// Refused by the authorization table; the message names the rule.
    #[error(transparent)]
    Unauthorized(#[from] Refusal),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
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
            GatewayError::PermissionDenied(_) | GatewayError::Unauthorized(_) => Code::PermissionDenied,
            GatewayError::NotFound(_) => Code::NotFound,
            GatewayError::FailedPrecondition(_) => Code::FailedPrecondition,
            GatewayError::Route(RouteError::UnknownOrigin(_)) => Code::PermissionDenied,
            GatewayError::Route(RouteError::TooManyRecipients(_) | RouteError::UnknownTetragraph(_)) => {
                Code::InvalidArgument
            }
            GatewayError::Bus(BusError::Timeout) => Code::DeadlineExceeded,
            GatewayError::Bus(BusError::NotFound(_)) => Code::NotFound,
            GatewayError::Bus(BusError::TooLarge { .. } | BusError::ConsumerLimit | BusError::DurableLimit { .. }) => {
                Code::ResourceExhausted
            }
            GatewayError::Bus(_) | GatewayError::PartiallyStored(_) | GatewayError::ShuttingDown => Code::Unavailable,
        }
    }
}

/// tonic's own words for a request above the decoding limit, which it reports as OUT_OF_RANGE.
const DECODE_LIMIT_MESSAGE: &str = "decoded message length too large";

/// Translates a status tonic raised while decoding a request: a request over the decoding limit becomes
/// RESOURCE_EXHAUSTED naming the body limit, like a body over the limit that tonic could still decode.
/// Other statuses pass through.
pub fn request_status(status: Status, max_body_bytes: usize) -> Status {
    if status.code() != Code::OutOfRange || !status.message().contains(DECODE_LIMIT_MESSAGE) {
        return status;
    }
    Status::resource_exhausted(format!(
        "envelope.body: the request is larger than the gateway accepts ({}); a body may be at most {max_body_bytes} bytes",
        status.message()
    ))
}

/// The same translation for a unary response already on its way out as HTTP headers.
pub fn rewrite_decode_limit<B>(mut response: http::Response<B>, max_body_bytes: usize) -> http::Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() == Code::OutOfRange && status.message().contains(DECODE_LIMIT_MESSAGE) {
        let headers = response.headers_mut();
        headers.remove("grpc-message");
        if let Err(error) = request_status(status, max_body_bytes).add_header(headers) {
            tracing::warn!(%error, "could not rewrite an oversized-request status");
        }
    }
    response
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
