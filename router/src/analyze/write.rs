//! INSERT, REPLACE, UPDATE and DELETE.

use shardgate_config::TableKind;
use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Insert, OnInsert, SetExpr, Spanned,
    TableFactor, TableWithJoins, Update, UpdateTableFromKind,
};

use super::links::key_links;
use super::select::{simple_route, where_cond};
use super::{Analysis, Class};
use crate::collect::name_parts;
use crate::condition::Operand;
use crate::error::{Result, RouterError};
use crate::keys::KeyFill;
use crate::plan::StatementKind;
use crate::template::{Edit, EditKind, InsertRow, MergeTemplate, RouteTemplate, Template};

pub(super) fn insert(insert: &Insert, mut a: Analysis<'_>) -> Result<Template> {
    let kind = if insert.replace_into {
        StatementKind::Replace
    } else {
        StatementKind::Insert
    };
    // The target table is the first relation the walk met.
    let Some(written) = a.refs.iter().position(|r| r.depth == 0) else {
        return a.finish(
            kind,
            RouteTemplate::NoTable,
            MergeTemplate::default(),
            false,
        );
    };
    let table = a.refs[written].table;
    // `INSERT INTO t (t.a, shop.t.b)`: the qualifiers name the physical table, as in
    // expressions.
    for column in &insert.columns {
        let parts = &column.0;
        if parts.len() < 2 {
            continue;
        }
        let (Some(first), Some(last_qualifier)) = (parts.first(), parts.get(parts.len() - 2))
        else {
            continue;
        };
        // Only a qualifier naming the table written to (another is MariaDB's error to give).
        let qualifier = name_parts(column);
        let qualifier: Vec<&str> = qualifier[..qualifier.len() - 1]
            .iter()
            .map(String::as_str)
            .collect();
        if a.qualifier_ref(&qualifier) != Some(written) {
            continue;
        }
        let range = a
            .src
            .range(first.span())
            .zip(a.src.range(last_qualifier.span()))
            .map(|(start, end)| start.start..end.end);
        let Some(range) = range else {
            return Err(RouterError::Unsafe(
                "cannot locate a qualified column of the INSERT in the statement text".into(),
            ));
        };
        a.edits.push(Edit {
            range,
            kind: EditKind::Qualifier(written),
        });
    }
    let Some(layout) = a.layout(table) else {
        let route = match a.classify(Some(written), &[])? {
            Class::Broadcast => RouteTemplate::BroadcastWrite,
            other => simple_route(other),
        };
        return a.finish(kind, route, MergeTemplate::default(), false);
    };
    a.classify(Some(written), &[])?;
    let table_name = a.topology.tables[table].name.clone();
    let key = layout.sharding_column.clone();
    let generated = a.topology.tables[table].key_generator.is_some();
    let missing = || {
        RouterError::BadShardKey(format!(
            "INSERT into `{table_name}` does not give its sharding column `{key}`"
        ))
    };
    let rows = if !insert.assignments.is_empty() {
        // INSERT ... SET key = value
        let value = insert
            .assignments
            .iter()
            .find(|asg| assigns_key(asg, &key))
            .ok_or_else(missing)?;
        let fill = fillable(&mut a, &value.value, 0, generated);
        vec![InsertRow {
            range: None,
            key: key_operand(&a, &value.value),
            fill,
        }]
    } else {
        let position = insert.columns.iter().position(|c| {
            name_parts(c)
                .last()
                .is_some_and(|n| n.eq_ignore_ascii_case(&key))
        });
        let values = match insert.source.as_deref().map(|q| q.body.as_ref()) {
            Some(SetExpr::Values(values)) => values,
            _ => {
                return Err(RouterError::Unsafe(format!(
                    "INSERT ... SELECT into sharded table `{table_name}` is not supported: its rows' keys are not known before it runs"
                )))
            }
        };
        if insert.columns.is_empty() {
            return Err(RouterError::InsertWithoutColumns {
                table: table_name,
                key,
            });
        }
        if position.is_none() {
            if !generated {
                return Err(missing());
            }
            // The generator fills the key: name its column after the last one given.
            let last = insert.columns.last().map(|c| c.span());
            let Some(end) = last.and_then(|s| a.src.range(s)).map(|r| r.end) else {
                return Err(RouterError::Unsafe(
                    "cannot locate the INSERT's column list in the statement text".into(),
                ));
            };
            a.edits.push(Edit {
                range: end..end,
                kind: EditKind::Append(format!(", {key}")),
            });
        }
        let mut rows = Vec::with_capacity(values.rows.len());
        for (n, row) in values.rows.iter().enumerate() {
            let range = match (
                a.src.range(row.opening_token.0.span),
                a.src.range(row.closing_token.0.span),
            ) {
                (Some(open), Some(close)) => open.start..close.end,
                _ => {
                    return Err(RouterError::Unsafe(
                        "cannot locate an INSERT row in the statement text".into(),
                    ))
                }
            };
            let Some(position) = position else {
                let close = range.end - 1;
                a.edits.push(Edit {
                    range: close..close,
                    kind: EditKind::KeyAppend { row: n },
                });
                rows.push(InsertRow {
                    range: Some(range),
                    key: Operand::Unknown,
                    fill: KeyFill::Append,
                });
                continue;
            };
            let expr = row.content.get(position).ok_or_else(|| {
                RouterError::BadShardKey(format!(
                    "an INSERT row into `{table_name}` has fewer values than columns"
                ))
            })?;
            let fill = fillable(&mut a, expr, n, generated);
            rows.push(InsertRow {
                range: Some(range),
                key: key_operand(&a, expr),
                fill,
            });
        }
        rows
    };
    let mut key_assignments = Vec::new();
    if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &insert.on {
        for asg in assignments.iter().filter(|asg| assigns_key(asg, &key)) {
            if !keeps_key(&asg.value, &key) {
                key_assignments.push(key_operand(&a, &asg.value));
            }
        }
    }
    let route = RouteTemplate::Insert {
        layout_of: table,
        rows,
        key_assignments,
    };
    a.finish(kind, route, MergeTemplate::default(), false)
}

/// Whether a row's key value can be replaced by a generated key when it is NULL or 0: a
/// literal or a parameter of a table with a key generator. Marks its text for the renderer.
fn fillable(a: &mut Analysis<'_>, value: &Expr, row: usize, generated: bool) -> KeyFill {
    let Expr::Value(v) = value else {
        return KeyFill::Given;
    };
    let Some(range) = a.src.range(v.span) else {
        return KeyFill::Given;
    };
    if !generated {
        return KeyFill::Given;
    }
    // A placeholder already has its edit: it becomes the key's.
    match a.edits.iter_mut().find(|e| e.range == range) {
        Some(edit) => {
            let EditKind::Param(param) = edit.kind else {
                return KeyFill::Given;
            };
            edit.kind = EditKind::KeyValue {
                row,
                param: Some(param),
            };
        }
        None => a.edits.push(Edit {
            range,
            kind: EditKind::KeyValue { row, param: None },
        }),
    }
    KeyFill::WhenNullOrZero
}

pub(super) fn update(update: &Update, mut a: Analysis<'_>) -> Result<Template> {
    let mut from: Vec<&TableWithJoins> = vec![&update.table];
    if let Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) = &update.from
    {
        from.extend(f.iter());
    }
    // SET targets are not expressions: rewrite their table qualifiers here.
    for asg in &update.assignments {
        let names: Vec<&sqlparser::ast::ObjectName> = match &asg.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(ns) => ns.iter().collect(),
        };
        for name in names {
            qualifier_edit(&mut a, name, true);
        }
    }
    let owned: Vec<TableWithJoins> = from.into_iter().cloned().collect();
    let route = dml_route(&mut a, &owned, update.selection.as_ref(), |a, key| {
        update
            .assignments
            .iter()
            .filter(|asg| assigns_key(asg, key) && !keeps_key(&asg.value, key))
            .map(|asg| key_operand(a, &asg.value))
            .collect()
    })?;
    a.finish(
        StatementKind::Update,
        route,
        MergeTemplate::default(),
        update.limit.is_some(),
    )
}

pub(super) fn delete(delete: &Delete, mut a: Analysis<'_>) -> Result<Template> {
    let mut from: Vec<TableWithJoins> = match &delete.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t.clone(),
    };
    if let Some(using) = &delete.using {
        from.extend(using.iter().cloned());
    }
    // `DELETE t_order FROM t_order ...` names its targets outside FROM.
    for name in &delete.tables {
        qualifier_edit(&mut a, name, false);
    }
    let route = dml_route(&mut a, &from, delete.selection.as_ref(), |_, _| Vec::new())?;
    a.finish(
        StatementKind::Delete,
        route,
        MergeTemplate::default(),
        delete.limit.is_some(),
    )
}

/// The route of an UPDATE or DELETE over `from`.
fn dml_route(
    a: &mut Analysis<'_>,
    from: &[TableWithJoins],
    selection: Option<&Expr>,
    key_assignments: impl Fn(&Analysis<'_>, &str) -> Vec<Operand>,
) -> Result<RouteTemplate> {
    let written = from.first().and_then(|twj| match &twj.relation {
        TableFactor::Table { name, .. } => {
            let range = a.src.range(name.span())?;
            a.edits.iter().find_map(|e| match e.kind {
                EditKind::Table(r) if e.range == range => Some(r),
                _ => None,
            })
        }
        _ => None,
    });
    let links = key_links(a, from, selection);
    Ok(match a.classify(written, &links)? {
        Class::Sharded { layout_of } => {
            let key = match &a.topology.tables[layout_of].kind {
                TableKind::Sharded(l) => l.sharding_column.clone(),
                _ => String::new(),
            };
            let cond = where_cond(a, selection);
            super::key_list::key_list_edits(a, selection, layout_of);
            RouteTemplate::Sharded {
                layout_of,
                cond,
                key_assignments: key_assignments(a, &key),
            }
        }
        Class::Broadcast => RouteTemplate::BroadcastWrite,
        other => simple_route(other),
    })
}

/// Adds a qualifier rewrite for a column or table name outside expressions.
fn qualifier_edit(a: &mut Analysis<'_>, name: &sqlparser::ast::ObjectName, column: bool) {
    let idents: Vec<&sqlparser::ast::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    let qualifier = if column {
        match idents.split_last() {
            Some((_, q)) if !q.is_empty() => q.to_vec(),
            _ => return,
        }
    } else {
        idents
    };
    let parts: Vec<&str> = qualifier.iter().map(|i| i.value.as_str()).collect();
    let (Some(first), Some(last)) = (qualifier.first(), qualifier.last()) else {
        return;
    };
    if let (Some(r), Some(start), Some(end)) = (
        a.qualifier_ref(&parts),
        a.src.range(first.span),
        a.src.range(last.span),
    ) {
        a.edits.push(Edit {
            range: start.start..end.end,
            kind: EditKind::Qualifier(r),
        });
    }
}

fn assigns_key(asg: &Assignment, key: &str) -> bool {
    match &asg.target {
        AssignmentTarget::ColumnName(n) => name_parts(n)
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case(key)),
        AssignmentTarget::Tuple(ns) => ns.iter().any(|n| {
            name_parts(n)
                .last()
                .is_some_and(|c| c.eq_ignore_ascii_case(key))
        }),
    }
}

/// `key = key` and `key = VALUES(key)` leave the key as it is.
fn keeps_key(value: &Expr, key: &str) -> bool {
    match value {
        Expr::Identifier(id) => id.value.eq_ignore_ascii_case(key),
        Expr::CompoundIdentifier(ids) => ids
            .last()
            .is_some_and(|id| id.value.eq_ignore_ascii_case(key)),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("VALUES") => f
            .args
            .to_string()
            .trim_matches(['(', ')'])
            .trim()
            .eq_ignore_ascii_case(key),
        _ => false,
    }
}

fn key_operand(a: &Analysis<'_>, expr: &Expr) -> Operand {
    let is_key = |_: &Expr| false;
    let param_at = |e: &Expr| a.param_of(e);
    a.cond_builder(&is_key, &param_at).operand(expr)
}

/// `sql`, an INSERT without a column list, with `columns` written in after its table name
/// (mariadb-dump writes `INSERT INTO t VALUES (...)`; the sharding column must be found).
pub(crate) fn with_columns(sql: &str, columns: &[String]) -> Result<String> {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    let statements =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| RouterError::Parse(e.to_string()))?;
    let [sqlparser::ast::Statement::Insert(insert)] = statements.as_slice() else {
        return Err(RouterError::Unsafe("expected one INSERT".into()));
    };
    if !insert.columns.is_empty() || columns.is_empty() {
        return Err(RouterError::Unsafe(
            "expected an INSERT without a column list".into(),
        ));
    }
    let src = crate::source::SourceText::new(sql);
    let end = match &insert.table {
        sqlparser::ast::TableObject::TableName(name) => src.range(name.span()).map(|r| r.end),
        _ => None,
    }
    .ok_or_else(|| {
        RouterError::Unsafe("cannot locate the INSERT's table in the statement text".into())
    })?;
    let list: Vec<String> = columns
        .iter()
        .map(|c| format!("`{}`", c.replace('`', "``")))
        .collect();
    Ok(format!(
        "{} ({}){}",
        &sql[..end],
        list.join(", "),
        &sql[end..]
    ))
}
