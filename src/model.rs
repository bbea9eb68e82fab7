//! Domain types shared by every layer: subject tokens, party ids, kinds, markings and accesses.
//!
//! Nothing here knows protobuf or NATS; the gRPC layer converts into these types and the bus layer turns
//! them into subjects.

mod accesses;
pub mod countries;
mod markings;
mod message;
mod tetragraphs;
mod token;

pub use accesses::{Accesses, MAX_ACCESSES};
pub use markings::{
    BannerError, Classification, DisseminationControl, MAX_BANNER_LEN, MarkingError, Markings, Tlp, sci_token_error,
};
pub use message::{Kind, Precedence, RouteRequest};
pub use tetragraphs::{TetragraphError, Tetragraphs};
pub use token::{InvalidToken, MAX_TOKEN_LEN, PartyId, Token, Topic};
