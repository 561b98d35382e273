//! Result sets shardgate answers itself (SHOW TABLES, SELECT DATABASE() ...), in the text
//! protocol, every column a VARCHAR in utf8mb4.

use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;
use tokio::io::AsyncWrite;

use super::io::PacketWriter;
use super::wire::{eof_packet, ok_packet, put_lenenc_bytes, put_lenenc_int, OkInfo};

/// A small result set built in memory.
#[derive(Debug, Clone, Default)]
pub struct TextResult {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    /// Column definitions to send as they are (a backend's, so types and flags are MySQL's
    /// own); `None` to describe every column as a VARCHAR.
    pub definitions: Option<Vec<Vec<u8>>>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Columns that hold unsigned integers (counts, ids): described as BIGINT UNSIGNED, as
    /// MariaDB describes `@@warning_count` or `LAST_INSERT_ID()`, so drivers read numbers.
    pub unsigned: Vec<usize>,
}

impl TextResult {
    pub fn new(columns: &[&str]) -> Self {
        TextResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Marks columns as unsigned integers.
    pub fn unsigned(mut self, columns: impl IntoIterator<Item = usize>) -> Self {
        self.unsigned.extend(columns);
        self
    }

    pub fn row(mut self, values: Vec<Option<String>>) -> Self {
        self.rows.push(values);
        self
    }

    /// The column definitions: the backend's where kept, else each a VARCHAR in utf8mb4
    /// as wide as its widest value.
    pub fn column_definitions(&self) -> Vec<Vec<u8>> {
        if let Some(definitions) = &self.definitions {
            return definitions.clone();
        }
        self.columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let width = self
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .flatten()
                    .map(|v| v.len())
                    .max()
                    .unwrap_or(0)
                    .max(1);
                if self.unsigned.contains(&i) {
                    let column = Column::new(ColumnType::MYSQL_TYPE_LONGLONG)
                        .with_name(name.as_bytes())
                        .with_character_set(63)
                        .with_column_length(20)
                        .with_flags(
                            ColumnFlags::UNSIGNED_FLAG
                                | ColumnFlags::BINARY_FLAG
                                | ColumnFlags::NUM_FLAG,
                        );
                    let mut out = Vec::new();
                    column.serialize(&mut out);
                    return out;
                }
                let column = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                    .with_schema(self.schema.as_bytes())
                    .with_table(self.table.as_bytes())
                    .with_org_table(self.table.as_bytes())
                    .with_name(name.as_bytes())
                    .with_org_name(name.as_bytes())
                    .with_character_set(45)
                    .with_column_length((width * 4) as u32)
                    .with_flags(ColumnFlags::empty());
                let mut out = Vec::new();
                column.serialize(&mut out);
                out
            })
            .collect()
    }

    /// Writes the result in the text protocol.
    pub async fn write<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut PacketWriter<W>,
        deprecate_eof: bool,
        status: u16,
    ) -> std::io::Result<()> {
        self.write_as(writer, deprecate_eof, status, false).await
    }

    /// Writes the result in the text protocol or, `binary`, as the answer to a
    /// COM_STMT_EXECUTE (every value a length-encoded string, as VARCHAR columns are).
    pub async fn write_as<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut PacketWriter<W>,
        deprecate_eof: bool,
        status: u16,
        binary: bool,
    ) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(64);
        let definitions = self.column_definitions();
        put_lenenc_int(&mut out, definitions.len() as u64);
        writer.write(&out).await?;
        for definition in &definitions {
            writer.write(definition).await?;
        }
        if !deprecate_eof {
            writer.write(&eof_packet(0, status)).await?;
        }
        for row in &self.rows {
            out.clear();
            if binary {
                // Header, then the NULL bitmap (offset 2), then the values that are set.
                out.push(0x00);
                let mut bitmap = vec![0u8; (row.len() + 7 + 2) / 8];
                for (i, value) in row.iter().enumerate() {
                    if value.is_none() {
                        bitmap[(i + 2) / 8] |= 1 << ((i + 2) % 8);
                    }
                }
                out.extend_from_slice(&bitmap);
                for (i, value) in row.iter().enumerate() {
                    let Some(v) = value else { continue };
                    if self.unsigned.contains(&i) {
                        let n = v.parse::<u64>().unwrap_or_default();
                        out.extend_from_slice(&n.to_le_bytes());
                    } else {
                        put_lenenc_bytes(&mut out, v.as_bytes());
                    }
                }
                writer.write(&out).await?;
                continue;
            }
            out.clear();
            for value in row {
                match value {
                    Some(v) => put_lenenc_bytes(&mut out, v.as_bytes()),
                    None => out.push(0xFB),
                }
            }
            writer.write(&out).await?;
        }
        if deprecate_eof {
            let ok = OkInfo {
                status,
                ..Default::default()
            };
            writer.write(&ok_packet(&ok, 0xFE)).await
        } else {
            writer.write(&eof_packet(0, status)).await
        }
    }
}
