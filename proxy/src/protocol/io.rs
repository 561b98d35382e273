//! Packet framing: a 3-byte length and a 1-byte sequence id before each payload. Payloads of
//! 16 MiB - 1 bytes or more are split into several packets, the last one shorter (possibly
//! empty); [`PacketReader::read`] joins them and [`PacketWriter::write`] splits them.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

/// The largest payload one packet carries.
pub const MAX_PACKET_PAYLOAD: usize = 0xFF_FFFF;

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// The peer closed the connection between packets.
    #[error("connection closed")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A payload over the configured limit; the rest of it was not read.
    #[error("packet of {size} bytes or more exceeds max_allowed_packet ({max})")]
    TooLarge { size: usize, max: usize },
}

pub struct PacketReader<R> {
    inner: BufReader<R>,
    max_payload: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max_payload: usize) -> Self {
        PacketReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            max_payload,
        }
    }

    pub fn set_max_payload(&mut self, max: usize) {
        self.max_payload = max;
    }

    /// Reads one logical payload into `buf` (cleared first), joining split packets. Returns
    /// the sequence id of its last packet.
    pub async fn read(&mut self, buf: &mut Vec<u8>) -> Result<u8, PacketError> {
        buf.clear();
        loop {
            let (len, seq) = match self.header().await {
                Ok(h) => h,
                Err(PacketError::Closed) if !buf.is_empty() => {
                    return Err(PacketError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                }
                Err(e) => return Err(e),
            };
            if buf.len() + len > self.max_payload {
                return Err(PacketError::TooLarge {
                    size: buf.len() + len,
                    max: self.max_payload,
                });
            }
            let start = buf.len();
            buf.resize(start + len, 0);
            self.inner.read_exact(&mut buf[start..]).await?;
            if len < MAX_PACKET_PAYLOAD {
                return Ok(seq);
            }
        }
    }

    /// Reads one physical packet as it is (no joining): for relaying. Returns (length, seq).
    pub async fn read_raw(&mut self, buf: &mut Vec<u8>) -> Result<(usize, u8), PacketError> {
        let (len, seq) = self.header().await?;
        buf.clear();
        buf.resize(len, 0);
        self.inner.read_exact(buf).await?;
        Ok((len, seq))
    }

    async fn header(&mut self) -> Result<(usize, u8), PacketError> {
        let mut header = [0u8; 4];
        match self.inner.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(PacketError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        Ok((len, header[3]))
    }

    /// Whether bytes are already buffered (a pipelining client).
    pub fn has_buffered(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }
}

pub struct PacketWriter<W> {
    inner: BufWriter<W>,
    /// The sequence id of the next packet.
    pub seq: u8,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner: BufWriter::with_capacity(64 * 1024, inner),
            seq: 0,
        }
    }

    /// Buffers one logical payload, split as needed.
    pub async fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_PACKET_PAYLOAD);
            self.raw(&rest[..n]).await?;
            rest = &rest[n..];
            if n < MAX_PACKET_PAYLOAD {
                return Ok(());
            }
        }
    }

    /// Buffers one physical packet with the next sequence id (relaying keeps the backend's
    /// packet boundaries and renumbers them for the client).
    pub async fn raw(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let len = payload.len() as u32;
        let header = [len as u8, (len >> 8) as u8, (len >> 16) as u8, self.seq];
        self.inner.write_all(&header).await?;
        self.inner.write_all(payload).await?;
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().await
    }
}
