//! Byte offsets for sqlparser spans. Spans count lines and characters (1-based); splicing
//! needs byte ranges into the text that was parsed.

use std::ops::Range;

use sqlparser::tokenizer::{Location, Span};

use crate::fold::Folds;

pub(crate) struct SourceText<'a> {
    text: &'a str,
    /// The text the parser read, when long placeholder lists were folded out of `text`.
    parsed: Option<(String, Folds)>,
    /// Line starts of the parsed text.
    line_starts: Vec<usize>,
    ascii: bool,
}

impl<'a> SourceText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self::with_parsed(text, None)
    }

    /// `text`, of which the parser read `parsed` (see [`crate::fold`]).
    pub(crate) fn with_parsed(text: &'a str, parsed: Option<(String, Folds)>) -> Self {
        let read = parsed.as_ref().map_or(text, |(p, _)| p.as_str());
        let mut line_starts = vec![0];
        line_starts.extend(
            read.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceText {
            ascii: read.is_ascii(),
            text,
            parsed,
            line_starts,
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// The folded placeholder lists, if any.
    pub(crate) fn folds(&self) -> Option<&Folds> {
        self.parsed.as_ref().map(|(_, f)| f)
    }

    pub(crate) fn offset(&self, at: Location) -> Option<usize> {
        let read = self.parsed.as_ref().map_or(self.text, |(p, _)| p.as_str());
        let start = *self.line_starts.get((at.line as usize).checked_sub(1)?)?;
        let column = (at.column as usize).checked_sub(1)?;
        let offset = if self.ascii {
            (start + column).min(read.len())
        } else {
            let line = &read[start..];
            match line.char_indices().nth(column) {
                Some((i, _)) => start + i,
                None => read.len(),
            }
        };
        Some(match self.folds() {
            Some(folds) => folds.unfold(offset),
            None => offset,
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
