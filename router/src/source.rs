//! Byte offsets for sqlparser spans. Spans count lines and characters (1-based); splicing
//! needs byte ranges into the text that was parsed.

use std::ops::Range;

use sqlparser::tokenizer::{Location, Span};

pub(crate) struct SourceText<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    ascii: bool,
}

impl<'a> SourceText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceText {
            text,
            line_starts,
            ascii: text.is_ascii(),
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    pub(crate) fn offset(&self, at: Location) -> Option<usize> {
        let start = *self.line_starts.get((at.line as usize).checked_sub(1)?)?;
        let column = (at.column as usize).checked_sub(1)?;
        if self.ascii {
            return Some((start + column).min(self.text.len()));
        }
        let line = &self.text[start..];
        Some(match line.char_indices().nth(column) {
            Some((i, _)) => start + i,
            None => self.text.len(),
        })
    }

    /// The byte range of a span; `None` for the empty spans sqlparser gives synthesized nodes.
    pub(crate) fn range(&self, span: Span) -> Option<Range<usize>> {
        if span.start.line == 0 {
            return None;
        }
        Some(self.offset(span.start)?..self.offset(span.end)?)
    }
}
