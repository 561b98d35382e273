//! One walk over a statement's AST that finds everything the rewrite needs to know about names
//! and placeholders: every table reference (with alias and subquery depth), every column
//! qualifier, every `?`.

use std::collections::HashMap;
use std::ops::{ControlFlow, Range};

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, Spanned, TableFactor, Value, ValueWithSpan, Visit, Visitor,
};

use crate::source::SourceText;

/// A table named in the statement.
#[derive(Debug, Clone)]
pub(crate) struct Relation {
    /// Name parts without quotes: `[table]` or `[schema, table]`.
    pub parts: Vec<String>,
    pub range: Range<usize>,
    /// The alias given in FROM/JOIN, lower-cased.
    pub alias: Option<String>,
    /// 0 for the statement's own tables, more inside subqueries and derived tables.
    pub depth: usize,
}

/// A column reference's qualifier (`t_order` in `t_order.order_id`, `shop.t_order` in
/// `shop.t_order.order_id`).
#[derive(Debug, Clone)]
pub(crate) struct Qualifier {
    pub parts: Vec<String>,
    pub range: Range<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub relations: Vec<Relation>,
    pub qualifiers: Vec<Qualifier>,
    /// Byte offsets of the `?` placeholders, in text order: the i-th is parameter i.
    pub placeholders: Vec<usize>,
    /// A span the walk could not place in the text: rewriting would be unsafe.
    pub unplaced: bool,
}

impl Collected {
    /// The parameter index of the placeholder starting at byte `offset`.
    pub(crate) fn param_at(&self, offset: usize) -> Option<usize> {
        self.placeholders.binary_search(&offset).ok()
    }
}

pub(crate) fn collect<V: Visit>(node: &V, src: &SourceText<'_>, base_depth: usize) -> Collected {
    let mut walker = Walker {
        src,
        out: Collected::default(),
        query_depth: 0,
        base_depth,
        aliases: HashMap::new(),
    };
    let _ = node.visit(&mut walker);
    walker.out.placeholders.sort_unstable();
    walker.out.placeholders.dedup();
    walker.out
}

struct Walker<'s, 'a> {
    src: &'s SourceText<'a>,
    out: Collected,
    query_depth: usize,
    base_depth: usize,
    /// Alias of the table factor whose name starts at this offset.
    aliases: HashMap<usize, String>,
}

pub(crate) fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

impl Walker<'_, '_> {
    fn qualifier(&mut self, idents: &[Ident]) {
        let (Some(first), Some(last)) = (idents.first(), idents.last()) else {
            return;
        };
        match (self.src.range(first.span), self.src.range(last.span)) {
            (Some(a), Some(b)) => self.out.qualifiers.push(Qualifier {
                parts: idents.iter().map(|i| i.value.clone()).collect(),
                range: a.start..b.end,
            }),
            _ => self.out.unplaced = true,
        }
    }
}

impl Visitor for Walker<'_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.query_depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.query_depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias: Some(alias),
            ..
        } = factor
        {
            if let Some(range) = self.src.range(name.span()) {
                self.aliases
                    .insert(range.start, alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        match self.src.range(name.span()) {
            Some(range) => self.out.relations.push(Relation {
                parts: name_parts(name),
                alias: self.aliases.get(&range.start).cloned(),
                range,
                depth: self.query_depth.saturating_sub(self.base_depth),
            }),
            None => self.out.unplaced = true,
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        for item in &select.projection {
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(name),
                _,
            ) = item
            {
                let idents: Vec<Ident> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().cloned())
                    .collect();
                self.qualifier(&idents);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(idents) = expr {
            if idents.len() >= 2 {
                self.qualifier(&idents[..idents.len() - 1]);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        if let Value::Placeholder(_) = value.value {
            match self.src.range(value.span) {
                Some(range) => self.out.placeholders.push(range.start),
                None => self.out.unplaced = true,
            }
        }
        ControlFlow::Continue(())
    }
}
