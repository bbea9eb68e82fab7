//! Domain types shared by every layer: subject tokens, party ids, kinds and markings.
//!
//! Nothing here knows protobuf or NATS; the gRPC layer converts into these types and the bus layer turns
//! them into subjects.

pub mod countries;
mod markings;
mod message;
mod tetragraphs;
mod token;

pub use markings::{Classification, DisseminationControl, MarkingError, Markings, Tlp};
pub use message::{Kind, Precedence, RouteRequest};
pub use tetragraphs::{TetragraphError, Tetragraphs};
pub use token::{InvalidToken, MAX_TOKEN_LEN, PartyId, Token, Topic};
