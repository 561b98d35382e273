//! The small pieces of the MySQL wire format shardgate reads and writes itself: length-encoded
//! integers and strings, and the OK / ERR / EOF packets.

use mysql_common::constants::StatusFlags;

/// Appends a length-encoded integer.
pub fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over a packet payload. Every read checks bounds: payloads come from the network.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            v @ 0..=250 => Some(u64::from(v)),
            0xFC => self.u16().map(u64::from),
            0xFD => self
                .take(3)
                .map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xFE => self
                .take(8)
                .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            _ => None,
        }
    }

    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).ok()?;
        self.take(n)
    }

    pub fn null_terminated(&mut self) -> Option<&'a [u8]> {
        let rest = self.remaining();
        let end = rest.iter().position(|b| *b == 0)?;
        self.pos += end + 1;
        Some(&rest[..end])
    }
}

/// What an OK packet (or an OK-style EOF) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkInfo {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    /// The human-readable text (`Rows matched: 1  Changed: 1`), without its length prefix.
    pub info: Vec<u8>,
}

impl OkInfo {
    pub fn status_flags(&self) -> StatusFlags {
        StatusFlags::from_bits_truncate(self.status)
    }
}

/// Parses an OK packet (header 0x00, or 0xFE when it ends a result set).
pub fn parse_ok(payload: &[u8]) -> Option<OkInfo> {
    let mut r = Reader::new(payload);
    let header = r.u8()?;
    if header != 0x00 && header != 0xFE {
        return None;
    }
    let affected_rows = r.lenenc_int()?;
    let last_insert_id = r.lenenc_int()?;
    let status = r.u16()?;
    let warnings = r.u16()?;
    // Servers send the info as a length-encoded string; a bare string is taken as it is.
    let rest = r.remaining();
    let info = match Reader::new(rest).lenenc_bytes() {
        Some(text) if !rest.is_empty() => text.to_vec(),
        _ => rest.to_vec(),
    };
    Some(OkInfo {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
    })
}

/// Parses a pre-4.1-style EOF packet: 0xFE, warnings, status.
pub fn parse_eof(payload: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader::new(payload);
    (r.u8()? == 0xFE).then_some(())?;
    let warnings = r.u16()?;
    let status = r.u16()?;
    Some((warnings, status))
}

/// An error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrInfo {
    pub code: u16,
    pub state: [u8; 5],
    pub message: String,
}

impl ErrInfo {
    pub fn new(code: u16, state: &str, message: impl Into<String>) -> Self {
        let mut s = [b'H', b'Y', b'0', b'0', b'0'];
        if state.len() == 5 {
            s.copy_from_slice(state.as_bytes());
        }
        ErrInfo {
            code,
            state: s,
            message: message.into(),
        }
    }
}

pub fn parse_err(payload: &[u8]) -> Option<ErrInfo> {
    let mut r = Reader::new(payload);
    (r.u8()? == 0xFF).then_some(())?;
    let code = r.u16()?;
    let mut state = *b"HY000";
    if r.remaining().first() == Some(&b'#') {
        r.u8()?;
        state.copy_from_slice(r.take(5)?);
    }
    Some(ErrInfo {
        code,
        state,
        message: String::from_utf8_lossy(r.remaining()).into_owned(),
    })
}

/// Sets SERVER_MORE_RESULTS_EXISTS in the status of an OK packet, or of the EOF / OK that ends
/// a result set (`eof_style`: a pre-4.1 EOF, whose status sits after the warnings), so a
/// client reads on to the next result of a multi-statement.
pub fn add_more_results(packet: &mut [u8], eof_style: bool) {
    let more = StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits().to_le_bytes();
    let at = if eof_style {
        Some(3)
    } else {
        let mut r = Reader::new(packet);
        r.u8();
        r.lenenc_int();
        r.lenenc_int();
        Some(r.position()).filter(|_| r.remaining().len() >= 2)
    };
    if let Some(at) = at.filter(|at| at + 2 <= packet.len()) {
        packet[at] |= more[0];
        packet[at + 1] |= more[1];
    }
}

pub fn ok_packet(ok: &OkInfo, header: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + ok.info.len());
    out.push(header);
    put_lenenc_int(&mut out, ok.affected_rows);
    put_lenenc_int(&mut out, ok.last_insert_id);
    out.extend_from_slice(&ok.status.to_le_bytes());
    out.extend_from_slice(&ok.warnings.to_le_bytes());
    // A length-encoded string, as MariaDB sends it: Connector/C reads it so even without
    // CLIENT_SESSION_TRACK, and calls a bare string a malformed packet.
    if !ok.info.is_empty() {
        put_lenenc_bytes(&mut out, &ok.info);
    }
    out
}

pub fn err_packet(err: &ErrInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + err.message.len());
    out.push(0xFF);
    out.extend_from_slice(&err.code.to_le_bytes());
    out.push(b'#');
    out.extend_from_slice(&err.state);
    out.extend_from_slice(err.message.as_bytes());
    out
}

pub fn eof_packet(warnings: u16, status: u16) -> Vec<u8> {
    let mut out = vec![0xFE];
    out.extend_from_slice(&warnings.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trip() {
        for v in [
            0u64,
            250,
            251,
            65535,
            65536,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, v);
            assert_eq!(Reader::new(&out).lenenc_int(), Some(v));
        }
        assert_eq!(Reader::new(&[0xFC, 1]).lenenc_int(), None);
        assert_eq!(Reader::new(&[0xFF]).lenenc_int(), None);
    }

    #[test]
    fn ok_and_err_round_trip() {
        let ok = OkInfo {
            affected_rows: 300,
            last_insert_id: 7,
            status: 2,
            warnings: 1,
            info: b"x".to_vec(),
        };
        let packet = ok_packet(&ok, 0);
        assert_eq!(packet, [0, 0xFC, 44, 1, 7, 2, 0, 1, 0, 1, b'x']);
        assert_eq!(parse_ok(&packet), Some(ok));
        let err = ErrInfo::new(1045, "28000", "Access denied");
        assert_eq!(parse_err(&err_packet(&err)), Some(err));
        assert_eq!(parse_err(&[0xFF, 1]), None);
    }
}
