//! A client's command packet, decoded into what it asks (after mini-redis's `Command`): the
//! session matches on the variant and applies it. Statement text is decoded here only as
//! far as the packet goes (bytes to UTF-8); what the SQL asks is the router's to read.

use std::borrow::Cow;

use super::wire::Reader;

#[derive(Debug, PartialEq, Eq)]
pub enum ClientCommand<'p> {
    /// An empty packet.
    Empty,
    /// COM_QUIT.
    Quit,
    /// COM_INIT_DB: the database to use.
    InitDb(Cow<'p, str>),
    /// COM_QUERY: the statement text (`None` when it is not UTF-8).
    Query(Option<&'p str>),
    /// COM_FIELD_LIST: a table's columns, optionally matching a wildcard.
    FieldList {
        table: Cow<'p, str>,
        wildcard: &'p [u8],
    },
    /// COM_STATISTICS.
    Statistics,
    /// COM_PING.
    Ping,
    /// COM_CHANGE_USER: the request, read by the handshake code.
    ChangeUser(&'p [u8]),
    /// COM_STMT_PREPARE: the statement text (`None` when it is not UTF-8).
    StmtPrepare(Option<&'p str>),
    /// COM_STMT_EXECUTE: the request, read against the statement's parameter count.
    StmtExecute(&'p [u8]),
    /// COM_STMT_SEND_LONG_DATA: a piece of parameter `param` (`None` when malformed: the
    /// command has no answer, so it is dropped).
    StmtSendLongData(Option<(u32, u16, &'p [u8])>),
    /// COM_STMT_CLOSE (no answer).
    StmtClose(Option<u32>),
    /// COM_STMT_RESET.
    StmtReset(Option<u32>),
    /// COM_SET_OPTION: 0 turns multi-statements on, 1 off.
    SetOption(Option<u16>),
    /// COM_RESET_CONNECTION.
    ResetConnection,
    /// A command shardgate does not serve.
    Unknown(u8),
}

impl<'p> ClientCommand<'p> {
    pub fn decode(packet: &'p [u8]) -> Self {
        let Some((&command, body)) = packet.split_first() else {
            return ClientCommand::Empty;
        };
        let text = |b: &'p [u8]| std::str::from_utf8(b).ok();
        let id = |b: &'p [u8]| Reader::new(b).u32();
        match command {
            0x01 => ClientCommand::Quit,
            0x02 => ClientCommand::InitDb(String::from_utf8_lossy(body)),
            0x03 => ClientCommand::Query(text(body)),
            0x04 => {
                let mut parts = body.splitn(2, |b| *b == 0);
                ClientCommand::FieldList {
                    table: String::from_utf8_lossy(parts.next().unwrap_or_default()),
                    wildcard: parts.next().unwrap_or_default(),
                }
            }
            0x09 => ClientCommand::Statistics,
            0x0E => ClientCommand::Ping,
            0x11 => ClientCommand::ChangeUser(body),
            0x16 => ClientCommand::StmtPrepare(text(body)),
            0x17 => ClientCommand::StmtExecute(body),
            0x18 => {
                let mut r = Reader::new(body);
                ClientCommand::StmtSendLongData(match (r.u32(), r.u16()) {
                    (Some(id), Some(param)) => Some((id, param, r.remaining())),
                    _ => None,
                })
            }
            0x19 => ClientCommand::StmtClose(id(body)),
            0x1A => ClientCommand::StmtReset(id(body)),
            0x1B => ClientCommand::SetOption(match body {
                [a, b] => Some(u16::from_le_bytes([*a, *b])),
                _ => None,
            }),
            0x1F => ClientCommand::ResetConnection,
            other => ClientCommand::Unknown(other),
        }
    }

    /// The command's name in metrics (`shardgate_statements_total{command=...}`).
    pub fn name(&self) -> &'static str {
        match self {
            ClientCommand::Empty => "empty",
            ClientCommand::Quit => "quit",
            ClientCommand::InitDb(_) => "init_db",
            ClientCommand::Query(_) => "query",
            ClientCommand::FieldList { .. } => "field_list",
            ClientCommand::Statistics => "statistics",
            ClientCommand::Ping => "ping",
            ClientCommand::ChangeUser(_) => "change_user",
            ClientCommand::StmtPrepare(_) => "stmt_prepare",
            ClientCommand::StmtExecute(_) => "stmt_execute",
            ClientCommand::StmtSendLongData(_) => "stmt_send_long_data",
            ClientCommand::StmtClose(_) => "stmt_close",
            ClientCommand::StmtReset(_) => "stmt_reset",
            ClientCommand::SetOption(_) => "set_option",
            ClientCommand::ResetConnection => "reset_connection",
            ClientCommand::Unknown(_) => "unknown",
        }
    }

    /// Whether the command starts a new diagnostics area: the statements that can warn.
    pub fn clears_diagnostics(&self) -> bool {
        matches!(self, ClientCommand::StmtExecute(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_command() {
        assert_eq!(ClientCommand::decode(&[]), ClientCommand::Empty);
        assert_eq!(
            ClientCommand::decode(b"\x03SELECT 1"),
            ClientCommand::Query(Some("SELECT 1"))
        );
        assert_eq!(
            ClientCommand::decode(b"\x03\xff"),
            ClientCommand::Query(None)
        );
        assert_eq!(
            ClientCommand::decode(b"\x04t_order\0%"),
            ClientCommand::FieldList {
                table: "t_order".into(),
                wildcard: b"%"
            }
        );
        assert_eq!(
            ClientCommand::decode(b"\x18\x07\0\0\0\x01\0abc"),
            ClientCommand::StmtSendLongData(Some((7, 1, b"abc")))
        );
        assert_eq!(
            ClientCommand::decode(b"\x18\x07"),
            ClientCommand::StmtSendLongData(None)
        );
        assert_eq!(
            ClientCommand::decode(b"\x19\x02\0\0\0"),
            ClientCommand::StmtClose(Some(2))
        );
        assert_eq!(
            ClientCommand::decode(b"\x1b\x01\0"),
            ClientCommand::SetOption(Some(1))
        );
        assert_eq!(
            ClientCommand::decode(b"\x1b\x01"),
            ClientCommand::SetOption(None)
        );
        assert_eq!(ClientCommand::decode(b"\x42"), ClientCommand::Unknown(0x42));
    }
}
