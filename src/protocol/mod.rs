//! The wire protocol: reading requests ([`parse`]) and writing replies ([`reply`]).
//!
//! This layer knows RESP and nothing about commands: the parser turns bytes into an argument
//! vector, and the reply writer turns values into bytes. Which command runs, and what it
//! answers, is decided in [`crate::cmd`].

pub mod parse;
pub mod reply;

pub use parse::{Argv, Limits, Parser, ProtocolError};
pub use reply::Reply;
