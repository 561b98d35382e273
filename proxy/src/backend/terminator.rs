//! The packet that ends a result set, and what it says: read by the relay, the scatter
//! readers and the connection's own queries alike.

use crate::protocol::wire;

/// Whether a packet ends a result set: an EOF (old style, under 9 bytes) or an OK with the
/// 0xFE header (CLIENT_DEPRECATE_EOF). A row can also start with 0xFE (an 8-byte length), but
/// then it is longer.
pub fn is_terminator(packet: &[u8], deprecate_eof: bool) -> bool {
    packet.first() == Some(&0xFE)
        && if deprecate_eof {
            packet.len() < crate::protocol::io::MAX_PACKET_PAYLOAD
        } else {
            packet.len() < 9
        }
}

pub fn terminator_status(packet: &[u8], deprecate_eof: bool) -> u16 {
    if deprecate_eof {
        wire::parse_ok(packet).map_or(0, |ok| ok.status)
    } else {
        wire::parse_eof(packet).map_or(0, |(_, status)| status)
    }
}

/// The warning count in a result set's terminator.
pub fn terminator_warnings(packet: &[u8], deprecate_eof: bool) -> u16 {
    if deprecate_eof {
        wire::parse_ok(packet).map_or(0, |ok| ok.warnings)
    } else {
        wire::parse_eof(packet).map_or(0, |(warnings, _)| warnings)
    }
}
