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
}

impl TextResult {
    pub fn new(columns: &[&str]) -> Self {
        TextResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn row(mut self, values: Vec<Option<String>>) -> Self {
        self.rows.push(values);
        self
    }

    pub async fn write<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut PacketWriter<W>,
        deprecate_eof: bool,
        status: u16,
    ) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(64);
        let count = self
            .definitions
            .as_ref()
            .map_or(self.columns.len(), Vec::len);
        put_lenenc_int(&mut out, count as u64);
        writer.write(&out).await?;
        for definition in self.definitions.iter().flatten() {
            writer.write(definition).await?;
        }
        for name in self.columns.iter().filter(|_| self.definitions.is_none()) {
            let width = self
                .rows
                .iter()
                .filter_map(|r| r.get(self.columns.iter().position(|c| c == name).unwrap_or(0)))
                .flatten()
                .map(|v| v.len())
                .max()
                .unwrap_or(0)
                .max(1);
            let column = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                .with_schema(self.schema.as_bytes())
                .with_table(self.table.as_bytes())
                .with_org_table(self.table.as_bytes())
                .with_name(name.as_bytes())
                .with_org_name(name.as_bytes())
                .with_character_set(45)
                .with_column_length((width * 4) as u32)
                .with_flags(ColumnFlags::empty());
            out.clear();
            column.serialize(&mut out);
            writer.write(&out).await?;
        }
        if !deprecate_eof {
            writer.write(&eof_packet(0, status)).await?;
        }
        for row in &self.rows {
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
