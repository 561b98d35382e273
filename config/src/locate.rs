//! Maps YAML paths to the lines they are written on.
//!
//! serde forgets positions once a value is deserialized, so validation that runs afterwards
//! (duplicate names, moduli that do not match the table count) looks the line up here. One
//! extra pass of the YAML event parser over a config file costs far less than a millisecond.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line numbers (1-based) of every key and sequence item, by dotted path
/// (`schema.tables[2].bind_to`).
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    lines: HashMap<String, usize>,
}

impl LineIndex {
    pub(crate) fn build(text: &str) -> LineIndex {
        let mut walker = Walker::default();
        // A syntax error is reported by serde with its own position; the index is then partial.
        let _ = Parser::new_from_str(text).load(&mut walker, false);
        LineIndex {
            lines: walker.lines,
        }
    }

    /// The line of `path`, or of its nearest ancestor that was written down (a defaulted key has
    /// no line of its own), or 1.
    pub(crate) fn line_of(&self, path: &str) -> usize {
        let mut probe = path;
        loop {
            if let Some(line) = self.lines.get(probe) {
                return *line;
            }
            match probe.rfind(['.', '[']) {
                Some(cut) => probe = &probe[..cut],
                None => return 1,
            }
        }
    }
}

enum Frame {
    /// A mapping; `key` holds the path of the key whose value comes next.
    Map {
        key: Option<String>,
    },
    Seq {
        next: usize,
    },
}

#[derive(Default)]
struct Walker {
    lines: HashMap<String, usize>,
    stack: Vec<(Frame, String)>,
}

impl Walker {
    /// A value starts at `mark`: returns its path.
    fn value_path(&mut self, mark: Marker) -> String {
        match self.stack.last() {
            None => String::new(),
            Some((Frame::Map { key }, _)) => key.clone().unwrap_or_default(),
            Some((Frame::Seq { next }, parent)) => {
                let path = format!("{parent}[{next}]");
                self.lines.insert(path.clone(), mark.line());
                path
            }
        }
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some((Frame::Map { key }, _)) => *key = None,
            Some((Frame::Seq { next }, _)) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some((Frame::Map { key: key @ None }, parent)) = self.stack.last_mut() {
                    let path = if parent.is_empty() {
                        text
                    } else {
                        format!("{parent}.{text}")
                    };
                    self.lines.insert(path.clone(), mark.line());
                    *key = Some(path);
                    return;
                }
                self.value_path(mark);
                self.value_done();
            }
            Event::Alias(_) => {
                self.value_path(mark);
                self.value_done();
            }
            Event::MappingStart(..) => {
                let path = self.value_path(mark);
                self.stack.push((Frame::Map { key: None }, path));
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark);
                self.stack.push((Frame::Seq { next: 0 }, path));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn finds_keys_and_items() {
        let text = "a: 1\nlist:\n  - name: x\n    v: 2\n  - name: y\nnested:\n  deep:\n    k: 3\n";
        let index = LineIndex::build(text);
        assert_eq!(index.line_of("a"), 1);
        assert_eq!(index.line_of("list[0].name"), 3);
        assert_eq!(index.line_of("list[0].v"), 4);
        assert_eq!(index.line_of("list[1]"), 5);
        assert_eq!(index.line_of("nested.deep.k"), 8);
        // A key that was not written falls back to its parent.
        assert_eq!(index.line_of("list[1].missing"), 5);
    }
}
