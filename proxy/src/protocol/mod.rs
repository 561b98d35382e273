//! The client side of the protocol: packet framing, the handshake and authentication, the
//! value codecs, and the writer that encodes every answer (OK, ERR, EOF, result sets, rows,
//! relayed packets).

pub mod binary_row;
pub mod codes;
pub mod command;
pub mod handshake;
pub mod io;
pub mod resultset;
pub mod sha256_crypt;
pub mod sha2_auth;
pub mod wire;
pub mod writer;
