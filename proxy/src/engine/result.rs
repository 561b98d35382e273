//! The engine's answer to a statement, in one shape for the protocol writer: a stream of
//! [`ResultEvent`]s pulled one at a time. A single-target answer is the backend's packets
//! passed on ([`RelayStream`]); a merged one is column definitions, the rows the merge makes
//! and an end ([`MergedStream`]). The writer ([`crate::protocol::writer`]) turns either into
//! bytes the same way; neither stream touches the client's socket, and the next event is not
//! read until the last one was written (backpressure end to end).

use super::merge::{MergeError, Merger, OutRow};
use super::relay::{RelayError, RelayStream};
use super::warnings::{Condition, WarningSink, Warnings};
use crate::backend::BackendError;
use crate::protocol::binary_row::decode_text_row;

/// One answer, whichever way the engine makes it.
pub enum ResultStream<'s, 'c> {
    Relay(&'s mut RelayStream<'c>),
    Merged(&'s mut MergedStream<'c>),
}

/// The next thing the writer writes.
pub enum ResultEvent<'e> {
    /// A packet passed on as it is: a relayed packet, or a merged row kept whole.
    Packet(&'e [u8]),
    /// The column definitions of a result the proxy builds (logical names).
    Columns(&'e [Vec<u8>]),
    /// A row the merge computed: encoded in the binary protocol with `types`, or as text.
    Row {
        values: &'e [Option<Vec<u8>>],
        binary: bool,
        types: &'e [(u8, u16, u8)],
    },
    /// The end of a result the proxy builds, with the warnings of everything it read.
    End { warnings: u16 },
}

/// Why an answer stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// A backend failed or did not answer in time. `sent`: part of a result set already
    /// went out, so the error must end it.
    #[error("{error}")]
    Backend { error: BackendError, sent: bool },
    /// The merge could not go on (memory limit, values it cannot compare).
    #[error("{0}")]
    Merge(MergeError),
    #[error("client: {0}")]
    Client(std::io::Error),
}

impl From<RelayError> for AnswerError {
    fn from(e: RelayError) -> Self {
        let RelayError::Backend { error, sent } = e;
        AnswerError::Backend { error, sent }
    }
}

impl ResultStream<'_, '_> {
    pub async fn next(&mut self) -> Result<Option<ResultEvent<'_>>, AnswerError> {
        match self {
            ResultStream::Relay(relay) => Ok(relay.next().await?.map(ResultEvent::Packet)),
            ResultStream::Merged(merged) => merged.next().await,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MergedState {
    Columns,
    Rows,
    Done,
}

/// A merged result as events: the definitions, each row as the merge makes it, then the
/// end, whose warning count includes the merge's own (a GROUP_CONCAT cut at
/// group_concat_max_len, as MySQL warns of it) and those of every statement the merge read
/// to its end.
pub struct MergedStream<'c> {
    merger: &'c mut Merger,
    definitions: Vec<Vec<u8>>,
    warnings: &'c WarningSink,
    state: MergedState,
    row: Option<OutRow>,
    /// The client reads binary rows while the merged rows are text (a UNION's branches
    /// run as text statements): each row is re-encoded.
    to_binary: bool,
}

impl<'c> MergedStream<'c> {
    /// `definitions`: the merger's column definitions with logical names.
    pub fn new(
        merger: &'c mut Merger,
        definitions: Vec<Vec<u8>>,
        warnings: &'c WarningSink,
    ) -> Self {
        MergedStream {
            merger,
            definitions,
            warnings,
            state: MergedState::Columns,
            row: None,
            to_binary: false,
        }
    }

    /// Rows go to the client in the binary protocol whatever the merge's rows are.
    pub fn with_binary_rows(mut self, binary: bool) -> Self {
        self.to_binary = binary;
        self
    }

    async fn next(&mut self) -> Result<Option<ResultEvent<'_>>, AnswerError> {
        match self.state {
            MergedState::Columns => {
                self.state = MergedState::Rows;
                Ok(Some(ResultEvent::Columns(&self.definitions)))
            }
            MergedState::Rows => match self.merger.next().await {
                Ok(Some(row)) => {
                    let header = &self.merger.header;
                    let convert = self.to_binary && !header.binary;
                    let row = match row {
                        OutRow::Packet(packet) if convert => {
                            match decode_text_row(&packet, header.columns.len()) {
                                Some(values) => OutRow::Values(values),
                                None => {
                                    self.state = MergedState::Done;
                                    return Err(AnswerError::Merge(MergeError::NotSupported(
                                        "a result row that does not read as one".into(),
                                    )));
                                }
                            }
                        }
                        other => other,
                    };
                    Ok(Some(match self.row.insert(row) {
                        OutRow::Packet(packet) => ResultEvent::Packet(packet),
                        OutRow::Values(values) => ResultEvent::Row {
                            values,
                            binary: header.binary || self.to_binary,
                            types: &header.types,
                        },
                    }))
                }
                Ok(None) => {
                    self.state = MergedState::Done;
                    self.add_cut_warnings();
                    let warnings = self.warnings.count().min(u64::from(u16::MAX)) as u16;
                    Ok(Some(ResultEvent::End { warnings }))
                }
                Err(e) => {
                    self.state = MergedState::Done;
                    Err(AnswerError::Merge(e))
                }
            },
            MergedState::Done => Ok(None),
        }
    }

    fn add_cut_warnings(&self) {
        let cuts = self.merger.group_concat_cuts();
        if cuts.is_empty() {
            return;
        }
        self.warnings.add(Warnings {
            count: cuts.len() as u64,
            conditions: cuts
                .iter()
                .map(|row| Condition {
                    level: "Warning".into(),
                    code: "1260".into(),
                    message: format!("Row {row} was cut by GROUP_CONCAT()"),
                })
                .collect(),
        });
    }
}
