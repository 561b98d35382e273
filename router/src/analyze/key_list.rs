//! Finds `key IN (...)` lists in a WHERE clause that each physical statement may carry cut
//! to its own values (see [`crate::key_list`]).

use sqlparser::ast::{BinaryOperator, Expr, InTarget, Spanned, UnaryOperator};

use super::Analysis;
use crate::condition::Operand;
use crate::key_list::KeyListItem;
use crate::template::{Edit, EditKind};
use shardgate_config::{TableId, TableKind};

/// Lists shorter than this are not worth cutting.
const MIN_ITEMS: usize = 8;

/// Adds a key-list edit for each long `key IN (...)` of the statement's own WHERE clause
/// (through AND, OR, NOT and parentheses; not inside subqueries, where a column of the same
/// name could be another table's) whose key belongs to the layout the statement is routed
/// by, or to a table bound to it.
pub(super) fn key_list_edits(a: &mut Analysis<'_>, selection: Option<&Expr>, layout_of: TableId) {
    let Some(selection) = selection else {
        return;
    };
    let mut found = Vec::new();
    walk(selection, &mut found);
    for (expr, list) in found {
        if let Some(edit) = key_list_edit(a, expr, list, layout_of) {
            let inside = edit.range.clone();
            // The list's values are rendered by the key-list edit, placeholders included.
            a.edits.retain(|e| {
                !(matches!(e.kind, EditKind::Param(_))
                    && e.range.start >= inside.start
                    && e.range.end <= inside.end)
            });
            a.edits.push(edit);
        }
    }
}

fn walk<'e>(expr: &'e Expr, found: &mut Vec<(&'e Expr, &'e [Expr])>) {
    match expr {
        Expr::Nested(inner) => walk(inner, found),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => walk(expr, found),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And | BinaryOperator::Or,
            right,
        } => {
            walk(left, found);
            walk(right, found);
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } => found.push((expr, list)),
        _ => {}
    }
}

fn key_list_edit(a: &Analysis<'_>, key: &Expr, list: &[Expr], layout_of: TableId) -> Option<Edit> {
    let r = a.key_ref(key)?;
    let group = |table: TableId| match &a.topology.tables[table].kind {
        TableKind::Sharded(l) => Some(l.binding_group),
        _ => None,
    };
    if group(a.refs[r].table)? != group(layout_of)? {
        return None;
    }
    let is_key = |_: &Expr| false;
    let param_at = |e: &Expr| a.param_of(e);
    let builder = a.cond_builder(&is_key, &param_at);
    // (A folded list's one `?` stands for its run.)
    let operands = builder.list_operands(list);
    if operands.len() < MIN_ITEMS {
        return None;
    }
    if operands.iter().any(|o| matches!(o, Operand::Unknown)) {
        return None;
    }
    // The list's text: from after its `(` to before its `)`, split at the commas. The
    // values are placeholders, signs and NULL, so every comma separates two of them.
    let text = a.src.text();
    // (A folded list's one `?` spans its whole run.)
    let first = a.src.range(list.first()?.span())?;
    let last = a.src.range(list.last()?.span())?;
    let open = text[..first.start].rfind('(')?;
    let close = last.end + text[last.end..].find(')')?;
    if !text[open + 1..first.start]
        .chars()
        .all(|c| c.is_whitespace() || c == '-' || c == '+')
    {
        return None;
    }
    let inside = open + 1..close;
    let pieces: Vec<&str> = text[inside.clone()].split(',').collect();
    if pieces.len() != operands.len() {
        return None;
    }
    let mut items = Vec::with_capacity(list.len());
    let mut start = inside.start;
    for (piece, operand) in pieces.into_iter().zip(operands) {
        let lead = piece.len() - piece.trim_start().len();
        let range = start + lead..start + lead + piece.trim().len();
        start += piece.len() + 1;
        let placeholder = match text[range.clone()].find('?') {
            Some(at) => Some((range.start + at, a.collected.param_at(range.start + at)?)),
            None => None,
        };
        items.push(KeyListItem {
            range,
            placeholder,
            operand,
        });
    }
    Some(Edit {
        range: inside,
        kind: EditKind::KeyList { items },
    })
}
