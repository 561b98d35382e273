//! Rendering: splicing one physical statement together from a template's text, its edits
//! (physical table names, bound literals, LIMIT rewrites, derived columns) and one target.

use std::fmt::Write as _;
use std::ops::Range;

use shardgate_config::{DatabaseId, TableKind, Topology};

use crate::bind::{int_of, Params};
use crate::condition::Operand;
use crate::key_list::{KeyListItem, KeyListRoutes};
use crate::plan::PhysicalStatement;
use crate::template::{AddedPiece, EditKind, Template};

/// Where one physical statement goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub database: Option<DatabaseId>,
    /// Index into the layout's physical table names, for sharded refs.
    pub table: Option<usize>,
}

/// Splices one physical statement together.
pub(crate) struct Renderer<'t> {
    template: &'t Template,
    topology: &'t Topology,
    params: Params<'t>,
    target: Target,
    multi: bool,
    pub(crate) out: String,
    param_order: Vec<usize>,
    /// Generated keys of INSERT rows, by row.
    pub(crate) generated: &'t [Option<i64>],
    /// Where the values of the key lists go, and this statement's (layout database,
    /// table): set when several tables share the statement.
    pub(crate) key_lists: Option<(&'t KeyListRoutes, (usize, usize))>,
    /// A two-phase SELECT's second phase: this table's (first row, share) of the derived
    /// table's rows. `None` renders the first phase (see [`EditKind::WindowCount`]).
    pub(crate) window: Option<(u64, u64)>,
    /// Write a prepared statement's parameters in as SQL literals (a two-phase SELECT's
    /// first phase runs as text).
    pub(crate) inline_params: bool,
    /// Write table names as the client wrote them: the text is a logical statement that
    /// is planned again (a UNION's branch).
    pub(crate) tables_as_written: bool,
}

impl<'t> Renderer<'t> {
    pub(crate) fn new(
        template: &'t Template,
        topology: &'t Topology,
        params: Params<'t>,
        target: Target,
        multi: bool,
    ) -> Self {
        Renderer {
            template,
            topology,
            params,
            target,
            multi,
            out: String::with_capacity(template.text.len() + 32),
            param_order: Vec::new(),
            generated: &[],
            key_lists: None,
            window: None,
            inline_params: false,
            tables_as_written: false,
        }
    }

    pub(crate) fn range(&mut self, range: Range<usize>) {
        let text = &self.template.text;
        let edits = &self.template.edits;
        let mut pos = range.start;
        let first = edits.partition_point(|e| e.range.start < range.start);
        let mut key_list = edits[..first]
            .iter()
            .filter(|e| matches!(e.kind, EditKind::KeyList { .. }))
            .count();
        for edit in edits[first..]
            .iter()
            .take_while(|e| e.range.end <= range.end)
        {
            self.out.push_str(&text[pos..edit.range.start]);
            match &edit.kind {
                EditKind::Param(i) => self.param(*i),
                EditKind::Table(_) | EditKind::Qualifier(_) if self.tables_as_written => {
                    self.out.push_str(&text[edit.range.clone()])
                }
                EditKind::Table(r) | EditKind::Qualifier(r) => self.table(*r),
                EditKind::LimitOffset(_) if self.multi => self.out.push('0'),
                EditKind::LimitCount(_) if self.multi && self.template.merge.grouped() => {
                    // Groups and aggregates are only complete after the merge: shards must
                    // return all of theirs.
                    self.out.push_str("18446744073709551615");
                }
                EditKind::LimitCount(count) if self.multi => {
                    let offset = self
                        .template
                        .merge
                        .limit
                        .as_ref()
                        .and_then(|(o, _)| int_of(o, &self.params))
                        .unwrap_or(0);
                    let count = int_of(count, &self.params).unwrap_or(0);
                    let _ = write!(self.out, "{}", offset.max(0) + count.max(0));
                }
                EditKind::LimitOffset(op) | EditKind::LimitCount(op) => match op {
                    Operand::Param { index, .. } => self.param(*index),
                    _ => self.out.push_str(&text[edit.range.clone()]),
                },
                EditKind::AppendWhenMulti(pieces) => {
                    if self.multi {
                        for piece in pieces {
                            match piece {
                                AddedPiece::Text(text) => self.out.push_str(text),
                                AddedPiece::Table(r) => self.table(*r),
                            }
                        }
                    }
                }
                EditKind::Append(extra) => self.out.push_str(extra),
                EditKind::WindowOffset(op) | EditKind::WindowCount { count: op, .. }
                    if self.describing() =>
                {
                    // A prepared statement being described: its LIMIT as written.
                    match op {
                        Operand::Param { index, .. } => self.param(*index),
                        _ => self.out.push_str(&text[edit.range.clone()]),
                    }
                }
                EditKind::WindowOffset(_) => {
                    let first = self.window.map_or(0, |(first, _)| first);
                    let _ = write!(self.out, "{first}");
                }
                EditKind::WindowCount { has_offset, .. } => match self.window {
                    Some((first, share)) if !has_offset && first > 0 => {
                        let _ = write!(self.out, "{first}, {share}");
                    }
                    Some((_, share)) => {
                        let _ = write!(self.out, "{share}");
                    }
                    None => {
                        let rows = self.template.window.as_ref().map_or(0, |w| {
                            let offset = int_of(&w.offset, &self.params).unwrap_or(0).max(0);
                            let count = int_of(&w.count, &self.params).unwrap_or(0).max(0);
                            offset + count
                        });
                        let _ = write!(self.out, "{rows}");
                    }
                },
                EditKind::KeyAppend { row } => {
                    if let Some(Some(id)) = self.generated.get(*row) {
                        let _ = write!(self.out, ", {id}");
                    }
                }
                EditKind::KeyValue { row, param } => match (self.generated.get(*row), param) {
                    (Some(Some(id)), _) => {
                        let _ = write!(self.out, "{id}");
                    }
                    (_, Some(i)) => self.param(*i),
                    (_, None) => self.out.push_str(&text[edit.range.clone()]),
                },
                EditKind::KeyList { items, .. } => {
                    self.key_list(key_list, items, edit.range.clone());
                    key_list += 1;
                }
            }
            pos = edit.range.end;
        }
        self.out.push_str(&text[pos..range.end]);
    }

    /// A key list's values: those for this statement's table, or all of them.
    fn key_list(&mut self, list: usize, items: &[KeyListItem], whole: Range<usize>) {
        let Some((routes, pair)) = self.key_lists else {
            // As written.
            let mut pos = whole.start;
            for item in items {
                let text = &self.template.text;
                self.out.push_str(&text[pos..item.range.start]);
                self.key_list_item(item);
                pos = item.range.end;
            }
            let text = &self.template.text;
            self.out.push_str(&text[pos..whole.end]);
            return;
        };
        for (n, i) in routes.items_for(list, pair).into_iter().enumerate() {
            if n > 0 {
                self.out.push_str(", ");
            }
            if let Some(item) = items.get(i) {
                self.key_list_item(item);
            }
        }
    }

    fn key_list_item(&mut self, item: &KeyListItem) {
        let text = &self.template.text;
        match item.placeholder {
            Some((at, index)) => {
                self.out.push_str(&text[item.range.start..at]);
                self.param(index);
                self.out.push_str(&text[at + 1..item.range.end]);
            }
            None => self.out.push_str(&text[item.range.clone()]),
        }
    }

    /// A prepared statement rendered without its values and its windows: the text a
    /// backend describes.
    fn describing(&self) -> bool {
        matches!(self.params, Params::Prepared(_)) && self.window.is_none() && !self.inline_params
    }

    fn param(&mut self, i: usize) {
        match self.params {
            Params::Text { sql, literals } => match literals.get(i) {
                Some(l) => self.out.push_str(&sql[l.span.clone()]),
                None => self.out.push('?'),
            },
            Params::Inline(values) => match values.get(i) {
                Some(v) => self.out.push_str(&crate::literals::sql_literal(v)),
                None => self.out.push('?'),
            },
            Params::Prepared(values) if self.inline_params => match values.get(i) {
                Some(v) => self.out.push_str(&crate::literals::sql_literal(v)),
                None => self.out.push('?'),
            },
            Params::Prepared(_) => {
                self.out.push('?');
                self.param_order.push(i);
            }
        }
    }

    fn table(&mut self, r: usize) {
        let topology = self.topology;
        let logical = &topology.tables[self.template.refs[r].table];
        let (database, name) = match &logical.kind {
            TableKind::Sharded(layout) => (
                self.target.database,
                self.target
                    .table
                    .and_then(|t| layout.tables.get(t))
                    .map_or(logical.name.as_str(), String::as_str),
            ),
            TableKind::Broadcast => (self.target.database, logical.name.as_str()),
            TableKind::Single { database } => (Some(*database), logical.name.as_str()),
        };
        if let Some(db) = database {
            self.out.push_str(&topology.databases[db].name);
            self.out.push('.');
        }
        self.out.push_str(name);
    }

    pub(crate) fn finish(self) -> PhysicalStatement {
        let topology = self.topology;
        PhysicalStatement {
            backend: self
                .target
                .database
                .map_or(0, |d| topology.databases[d].backend),
            database: self.target.database,
            sql: self.out,
            params: self.param_order,
        }
    }
}
