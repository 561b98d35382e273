//! Prepared statements on backend connections (filled in by the binary-protocol work).

/// A statement prepared on one backend connection.
#[derive(Debug, Clone)]
pub struct BackendStmt {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}
