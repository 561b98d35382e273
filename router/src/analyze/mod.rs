//! Statement analysis: AST -> [`Template`]. Name resolution and the decision of which kind of
//! route a statement can safely take live here; the statement kinds have their own files.

mod added_text;
mod aggregate;
mod clause_text;
mod computable;
mod correlated;
mod cross_join;
pub(crate) mod cte;
mod ddl;
mod derived;
mod group_concat;
mod having;
mod key_list;
mod links;
mod merge;
pub mod policy;
mod project;
mod select;
mod shard_order;
mod subquery_values;
mod union_branches;
mod window_functions;
mod write;

pub(crate) use write::with_columns as insert_with_columns;

use shardgate_config::{ShardedLayout, TableId, TableKind, Topology};
use sqlparser::ast::{Expr, Ident, Statement, Visit};

use crate::collect::{collect, Collected};
use crate::condition::{CondBuilder, PlaceholderRuns};
use crate::error::{Result, RouterError};
use crate::plan::StatementKind;
use crate::source::SourceText;
use crate::template::{
    topology_id, Edit, EditKind, MergeTemplate, RouteTemplate, TableRef, Template,
};

/// Schemas whose tables are the server's own. Only `information_schema` is answered, and only
/// through shardgate's catalog (the session's metadata path); the others describe the backend
/// servers, not the logical schema, and are refused.
const SYSTEM_SCHEMAS: [&str; 4] = ["information_schema", "performance_schema", "mysql", "sys"];

/// Analyzes one parsed statement of `text`; `parsed` is the text the parser read when
/// long placeholder lists were folded (see [`crate::fold`]).
pub(crate) fn analyze(
    stmt: &Statement,
    text: &str,
    parsed: Option<(String, crate::fold::Folds)>,
    topology: &Topology,
) -> Result<Template> {
    policy::check(stmt)?;
    let src = SourceText::with_parsed(text, parsed);
    match stmt {
        Statement::Query(query) => {
            let a = Analysis::new(stmt, src, topology, 1)?;
            select::analyze(query, a)
        }
        Statement::Insert(insert) => {
            let a = Analysis::new(stmt, src, topology, 0)?;
            let mut template = write::insert(insert, a)?;
            template.returning = insert.returning.is_some();
            Ok(template)
        }
        Statement::Update(update) => {
            let a = Analysis::new(stmt, src, topology, 0)?;
            write::update(update, a)
        }
        Statement::Delete(delete) => {
            let a = Analysis::new(stmt, src, topology, 0)?;
            let mut template = write::delete(delete, a)?;
            template.returning = delete.returning.is_some();
            Ok(template)
        }
        Statement::CreateTable(_)
        | Statement::AlterTable(_)
        | Statement::Drop { .. }
        | Statement::Truncate(_)
        | Statement::CreateIndex(_) => ddl::analyze(stmt, src, topology),
        _ => Err(RouterError::NotRoutable(first_word(text))),
    }
}

pub(crate) fn first_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// A logical table mention, resolved.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedRef {
    pub table: TableId,
    /// The table name as written (last part), lower-cased.
    pub written: String,
    pub alias: Option<String>,
    pub depth: usize,
}

/// The route class a statement's tables allow.
pub(crate) enum Class {
    NoTable,
    Single(usize),
    Broadcast,
    /// Sharded tables of one binding group; `layout_of` is one of them.
    Sharded {
        layout_of: TableId,
    },
}

/// Shared state of one statement's analysis.
pub(crate) struct Analysis<'a> {
    pub topology: &'a Topology,
    pub src: SourceText<'a>,
    pub collected: Collected,
    pub refs: Vec<ResolvedRef>,
    pub edits: Vec<Edit>,
    pub system_tables: usize,
    /// A placeholder stands where its value changes the plan (ORDER BY 2): a shape template
    /// would be wrong for other values.
    pub literal_sensitive: bool,
    /// The key column of a derived table over a sharded table, which joins name as
    /// `alias.column` (see `derived`).
    pub derived_key: Option<DerivedKey>,
}

/// How the statement around a derived table names the derived table's sharding key.
pub(crate) struct DerivedKey {
    /// The derived table's alias.
    pub alias: String,
    /// The name its query gives the sharding column.
    pub column: String,
    /// The ref of the sharded table it reads.
    pub inner_ref: usize,
}

impl<'a> Analysis<'a> {
    pub(crate) fn new<V: Visit>(
        node: &V,
        src: SourceText<'a>,
        topology: &'a Topology,
        base_depth: usize,
    ) -> Result<Self> {
        let mut collected = collect(node, &src, base_depth);
        if let Some(folds) = src.folds() {
            collected.placeholders.extend(folds.placeholders());
            collected.placeholders.sort_unstable();
        }
        if collected.unplaced {
            return Err(RouterError::Unsafe(
                "cannot locate every table name in the statement text".into(),
            ));
        }
        let mut a = Analysis {
            topology,
            src,
            collected,
            refs: Vec::new(),
            edits: Vec::new(),
            system_tables: 0,
            literal_sensitive: false,
            derived_key: None,
        };
        let relations = std::mem::take(&mut a.collected.relations);
        for rel in &relations {
            // `FROM dual` names no table: MySQL's placeholder for a FROM clause.
            if matches!(rel.parts.as_slice(), [only] if only.eq_ignore_ascii_case("dual")) {
                continue;
            }
            let Some(table) = a.resolve(&rel.parts)? else {
                a.system_tables += 1;
                continue;
            };
            a.edits.push(Edit {
                range: rel.range.clone(),
                kind: EditKind::Table(a.refs.len()),
            });
            a.refs.push(ResolvedRef {
                table,
                written: rel
                    .parts
                    .last()
                    .map(|p| p.to_ascii_lowercase())
                    .unwrap_or_default(),
                alias: rel.alias.clone(),
                depth: rel.depth,
            });
        }
        let qualifiers = std::mem::take(&mut a.collected.qualifiers);
        for q in &qualifiers {
            let parts: Vec<&str> = q.parts.iter().map(String::as_str).collect();
            if let Some(r) = a.qualifier_ref(&parts) {
                a.edits.push(Edit {
                    range: q.range.clone(),
                    kind: EditKind::Qualifier(r),
                });
            }
        }
        for (i, offset) in a.collected.placeholders.iter().enumerate() {
            a.edits.push(Edit {
                range: *offset..offset + 1,
                kind: EditKind::Param(i),
            });
        }
        Ok(a)
    }

    /// A relation's logical table; `None` for a system table; an error for anything else.
    pub(crate) fn resolve(&self, parts: &[String]) -> Result<Option<TableId>> {
        let unknown = || RouterError::UnknownTable {
            table: parts.join("."),
            schema: self.topology.schema.clone(),
        };
        match parts {
            [table] => Ok(Some(self.topology.table(table).ok_or_else(unknown)?.0)),
            [schema, table] => {
                if schema.eq_ignore_ascii_case(&self.topology.schema) {
                    Ok(Some(self.topology.table(table).ok_or_else(unknown)?.0))
                } else if SYSTEM_SCHEMAS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(schema))
                {
                    Err(RouterError::OtherSchema(format!(
                        "`{}` is a schema of the backend servers; shardgate answers only for schema `{}` (and information_schema queries about it)",
                        schema.to_ascii_lowercase(),
                        self.topology.schema
                    )))
                } else {
                    Err(RouterError::OtherSchema(format!(
                        "schema `{schema}` is not served: shardgate answers only for schema `{}`",
                        self.topology.schema
                    )))
                }
            }
            _ => Err(unknown()),
        }
    }

    /// The table ref a qualifier names by its table name (a qualifier naming an alias needs no
    /// rewrite: the alias stays in the physical statement).
    pub(crate) fn qualifier_ref(&self, parts: &[&str]) -> Option<usize> {
        let (schema, name) = match parts {
            [name] => (None, *name),
            [schema, name] => (Some(*schema), *name),
            _ => return None,
        };
        if let Some(schema) = schema {
            if !schema.eq_ignore_ascii_case(&self.topology.schema) {
                return None;
            }
        } else if self.refs.iter().any(|r| {
            r.alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
        }) {
            return None;
        }
        self.refs
            .iter()
            .position(|r| r.alias.is_none() && r.written.eq_ignore_ascii_case(name))
    }

    pub(crate) fn table_kind(&self, r: usize) -> &'a TableKind {
        &self.topology.tables[self.refs[r].table].kind
    }

    pub(crate) fn layout(&self, table: TableId) -> Option<&'a ShardedLayout> {
        match &self.topology.tables[table].kind {
            TableKind::Sharded(layout) => Some(layout),
            _ => None,
        }
    }

    fn name(&self, r: usize) -> &'a str {
        &self.topology.tables[self.refs[r].table].name
    }

    /// Decides which route class the statement's tables allow, or refuses.
    ///
    /// `written` is the ref the statement writes to (None for reads); `links` are the
    /// expressions that may equate sharding keys (JOIN ... ON, WHERE).
    pub(crate) fn classify(&self, written: Option<usize>, links: &[Expr]) -> Result<Class> {
        if self.system_tables > 0 && !self.refs.is_empty() {
            return Err(RouterError::Unsafe(format!(
                "the statement mixes system schema tables with `{}` of schema `{}`",
                self.name(0),
                self.topology.schema
            )));
        }
        let mut sharded = Vec::new();
        let mut singles = Vec::new();
        let mut broadcasts = Vec::new();
        for (i, r) in self.refs.iter().enumerate() {
            match self.table_kind(i) {
                TableKind::Sharded(_) if r.depth > 0 => {
                    return Err(RouterError::Unsafe(format!(
                        "a subquery over sharded table `{}` would see only one shard's rows",
                        self.name(i)
                    )))
                }
                TableKind::Sharded(_) => sharded.push(i),
                TableKind::Single { database } => singles.push((i, *database)),
                TableKind::Broadcast => broadcasts.push(i),
            }
        }
        if let Some(w) = written {
            if matches!(self.table_kind(w), TableKind::Broadcast) {
                if let Some(other) = sharded.first().or(singles.first().map(|s| &s.0)) {
                    return Err(RouterError::Unsafe(format!(
                        "a write to broadcast table `{}` cannot also name `{}`: every copy must get the same change",
                        self.name(w),
                        self.name(*other)
                    )));
                }
                return Ok(Class::Broadcast);
            }
            if let Some(b) = broadcasts
                .iter()
                .find(|b| self.refs[**b].depth == 0 && **b != w)
            {
                return Err(RouterError::Unsafe(format!(
                    "a multi-table write that joins broadcast table `{}` is not supported yet",
                    self.name(*b)
                )));
            }
        }
        if let Some(&first) = sharded.first() {
            if let Some((s, _)) = singles.first() {
                return Err(RouterError::Unsafe(format!(
                    "single table `{}` cannot be joined with sharded table `{}`: they live in different databases",
                    self.name(*s),
                    self.name(first)
                )));
            }
            let group = |i: usize| self.layout(self.refs[i].table).map(|l| l.binding_group);
            if let Some(&other) = sharded.iter().find(|i| group(**i) != group(first)) {
                return Err(RouterError::Unsafe(format!(
                    "join between `{}` and `{}`, which are not sharded alike; bind one to the other to join them",
                    self.name(first),
                    self.name(other)
                )));
            }
            if sharded.len() > 1 {
                links::check_linked(self, &sharded, links)?;
            }
            return Ok(Class::Sharded {
                layout_of: self.refs[first].table,
            });
        }
        if let Some(&(first, database)) = singles.first() {
            if let Some((other, _)) = singles.iter().find(|(_, d)| *d != database) {
                return Err(RouterError::Unsafe(format!(
                    "single tables `{}` and `{}` live in different databases",
                    self.name(first),
                    self.name(*other)
                )));
            }
            return Ok(Class::Single(database));
        }
        if !broadcasts.is_empty() {
            return Ok(Class::Broadcast);
        }
        Ok(Class::NoTable)
    }

    /// Whether `expr` names the sharding column of a sharded table of the statement.
    pub(crate) fn is_key(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Nested(inner) => self.is_key(inner),
            Expr::Identifier(col) => self.refs.iter().enumerate().any(|(i, r)| {
                r.depth == 0
                    && matches!(self.table_kind(i), TableKind::Sharded(l) if l.sharding_column.eq_ignore_ascii_case(&col.value))
            }),
            _ => self.key_ref(expr).is_some(),
        }
    }

    /// The ref whose sharding column `expr` names, when that is unambiguous.
    pub(crate) fn key_ref(&self, expr: &Expr) -> Option<usize> {
        let (qualifier, col): (&[Ident], &Ident) = match expr {
            Expr::Nested(inner) => return self.key_ref(inner),
            Expr::Identifier(col) => (&[], col),
            Expr::CompoundIdentifier(parts) => {
                let (col, qualifier) = parts.split_last()?;
                (qualifier, col)
            }
            _ => return None,
        };
        if let (Some(key), Some(q)) = (&self.derived_key, qualifier.last()) {
            if key.alias.eq_ignore_ascii_case(&q.value) {
                return key
                    .column
                    .eq_ignore_ascii_case(&col.value)
                    .then_some(key.inner_ref);
            }
        }
        let candidates: Vec<usize> = (0..self.refs.len())
            .filter(|i| {
                let r = &self.refs[*i];
                let keyed = r.depth == 0
                    && matches!(self.table_kind(*i), TableKind::Sharded(l) if l.sharding_column.eq_ignore_ascii_case(&col.value));
                keyed
                    && match qualifier.last() {
                        None => true,
                        Some(q) => match &r.alias {
                            Some(alias) => alias.eq_ignore_ascii_case(&q.value),
                            None => r.written.eq_ignore_ascii_case(&q.value),
                        },
                    }
            })
            .collect();
        match candidates.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub(crate) fn cond_builder<'s>(
        &'s self,
        is_key: &'s dyn Fn(&Expr) -> bool,
        param_at: &'s dyn Fn(&Expr) -> Option<usize>,
    ) -> CondBuilder<'s> {
        CondBuilder {
            is_key,
            param_at,
            runs: self,
        }
    }

    /// The parameter index of a placeholder expression.
    pub(crate) fn param_of(&self, expr: &Expr) -> Option<usize> {
        match expr {
            Expr::Value(v) => {
                let range = self.src.range(v.span)?;
                self.collected.param_at(range.start)
            }
            _ => None,
        }
    }

    pub(crate) fn finish(
        mut self,
        kind: StatementKind,
        route: RouteTemplate,
        merge: MergeTemplate,
        write_limit: bool,
    ) -> Result<Template> {
        self.edits
            .sort_by_key(|e| (e.range.start, matches!(e.kind, EditKind::Param(_))));
        // A LIMIT edit replaces the placeholder edit at the same spot.
        self.edits
            .dedup_by(|later, earlier| later.range == earlier.range);
        if self
            .edits
            .windows(2)
            .any(|w| w[0].range.end > w[1].range.start)
        {
            return Err(RouterError::Unsafe(
                "overlapping rewrites in the statement text".into(),
            ));
        }
        Ok(Template {
            kind,
            text: self.src.text().to_string(),
            edits: self.edits,
            param_count: self.collected.placeholders.len(),
            refs: self
                .refs
                .iter()
                .map(|r| TableRef { table: r.table })
                .collect(),
            route,
            merge,
            literal_sensitive: self.literal_sensitive,
            write_limit,
            returning: false,
            window: None,
            in_subquery: None,
            union: None,
            cross_join: None,
            window_functions: None,
            analyzed_for: topology_id(self.topology),
        })
    }
}

impl PlaceholderRuns for Analysis<'_> {
    /// The whole run of a folded IN list for its first placeholder (see [`crate::fold`]).
    fn run_len(&self, param: usize) -> usize {
        match (self.src.folds(), self.collected.placeholders.get(param)) {
            (Some(folds), Some(&offset)) => folds.run_len(offset),
            _ => 1,
        }
    }
}
