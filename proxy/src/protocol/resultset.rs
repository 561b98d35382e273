//! Result sets shardgate answers itself (SHOW TABLES, SELECT DATABASE() ...), in the text
//! protocol, every column a VARCHAR in utf8mb4.

use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;
use tokio::io::AsyncWrite;

use super::binary_row::column_info;
use super::io::PacketWriter;

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
    /// COM_STMT_EXECUTE (each value encoded as its column definition says).
    pub async fn write_as<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut PacketWriter<W>,
        deprecate_eof: bool,
        status: u16,
        binary: bool,
    ) -> std::io::Result<()> {
        let definitions = self.column_definitions();
        writer
            .result_header(definitions.iter().map(Vec::as_slice), status, deprecate_eof)
            .await?;
        let types: Vec<(u8, u16, u8)> = definitions
            .iter()
            .map(|d| {
                let info = column_info(d);
                (info.column_type, info.flags, info.decimals)
            })
            .collect();
        let mut scratch = Vec::with_capacity(64);
        for row in &self.rows {
            let values: Vec<Option<Vec<u8>>> = row
                .iter()
                .map(|v| v.as_ref().map(|s| s.as_bytes().to_vec()))
                .collect();
            if binary {
                writer.binary_row(&values, &types).await?;
            } else {
                writer.text_row(&values, &mut scratch).await?;
            }
        }
        writer.end_of_rows(0, status, deprecate_eof).await
    }
}
