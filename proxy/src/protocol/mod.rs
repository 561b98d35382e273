//! The client side of the protocol: packet framing, the handshake and authentication, and
//! the packets shardgate writes itself (OK, ERR, EOF, its own result sets).

pub mod codes;
pub mod handshake;
pub mod io;
pub mod resultset;
pub mod sha2_auth;
pub mod wire;
