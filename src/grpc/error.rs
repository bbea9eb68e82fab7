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

/// tonic's own words for request bytes that are not the RPC's protobuf message, which it reports as INTERNAL.
const UNDECODABLE_MESSAGE: &str = "failed to decode Protobuf message";

/// Translates a status tonic raised while decoding a request: a request over the decoding limit becomes
/// RESOURCE_EXHAUSTED naming the body limit, like a body over the limit that tonic could still decode, and
/// bytes that are not the RPC's message become INVALID_ARGUMENT (the client's fault, not the gateway's).
/// Other statuses pass through.
pub fn request_status(status: Status, max_body_bytes: usize) -> Status {
    match status.code() {
        Code::OutOfRange if status.message().contains(DECODE_LIMIT_MESSAGE) => Status::resource_exhausted(format!(
            "envelope.body: the request is larger than the gateway accepts ({}); a body may be at most {max_body_bytes} bytes",
            status.message()
        )),
        Code::Internal if status.message().contains(UNDECODABLE_MESSAGE) => Status::invalid_argument(format!(
            "request: not a valid protobuf message of this call ({})",
            status.message()
        )),
        _ => status,
    }
}

/// The same translation for a unary response already on its way out as HTTP headers.
pub fn rewrite_request_status<B>(mut response: http::Response<B>, max_body_bytes: usize) -> http::Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let code = status.code();
    let rewritten = request_status(status, max_body_bytes);
    if rewritten.code() != code {
        let headers = response.headers_mut();
        headers.remove("grpc-message");
        if let Err(error) = rewritten.add_header(headers) {
            tracing::warn!(%error, "could not rewrite a request-decoding status");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_decoding_failures_are_the_clients_and_say_so() {
        let undecodable = Status::internal("failed to decode Protobuf message: invalid wire type value: 7");
        let status = request_status(undecodable, 1024);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("request: not a valid protobuf message of this call"), "{status:?}");
        let oversized = request_status(Status::out_of_range("decoded message length too large: 9 > 8"), 1024);
        assert_eq!(oversized.code(), Code::ResourceExhausted);
        assert!(oversized.message().contains("at most 1024 bytes"), "{oversized:?}");
        let other = request_status(Status::internal("h2 protocol error"), 1024);
        assert_eq!((other.code(), other.message()), (Code::Internal, "h2 protocol error"), "others pass through");
    }

    #[test]
    fn a_unary_answer_of_undecodable_bytes_is_rewritten_in_its_headers() {
        let mut response = http::Response::new(());
        Status::internal("failed to decode Protobuf message: buffer underflow")
            .add_header(response.headers_mut())
            .unwrap();
        let rewritten = rewrite_request_status(response, 1024);
        let status = Status::from_header_map(rewritten.headers()).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}
