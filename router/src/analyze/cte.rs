//! WITH over sharded tables: `WITH paid AS (SELECT ... FROM t_order WHERE ...) SELECT ...
//! FROM paid ...`. A CTE that is not recursive means what a derived table means, so each
//! reference to it is written as its query in parentheses (`FROM (SELECT ...) AS paid`)
//! and the statement is planned again under the rules of derived tables and subqueries.
//! The text is spliced, not printed from the syntax tree, so literals stay as written; the
//! parts are found by scanning and each is checked by parsing it back.

use sqlparser::ast::{Query, Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::ops::{ControlFlow, Range};

use super::clause_text::skip_blank;
use crate::error::{Result, RouterError};
use crate::normalize::{closing_parenthesis, comment_end, quoted_end};
use crate::source::SourceText;

fn refuse<T>(why: &str) -> Result<T> {
    Err(RouterError::Refused(format!(
        "WITH over sharded tables {why} is not supported yet"
    )))
}

fn unlocated<T>() -> Result<T> {
    Err(RouterError::Unsafe(
        "cannot locate the WITH clause's queries in the statement".into(),
    ))
}

/// `sql` with its CTEs written in where they are read; `None` for a statement without
/// WITH.
pub(crate) fn inline(stmt: &Statement, sql: &str) -> Result<Option<String>> {
    let Statement::Query(query) = stmt else {
        return Ok(None);
    };
    let Some(with) = &query.with else {
        return Ok(None);
    };
    if with.recursive {
        return refuse("RECURSIVE");
    }
    let mut at = skip_blank(sql, 0);
    if !word_at(sql, at, "WITH") {
        return unlocated();
    }
    at = skip_blank(sql, at + 4);
    // Each CTE: its name (as written) and its query's text.
    let mut ctes: Vec<(String, Range<usize>)> = Vec::new();
    for cte in &with.cte_tables {
        if !cte.alias.columns.is_empty() || cte.materialized.is_some() || cte.from.is_some() {
            return refuse("with a column list or MATERIALIZED");
        }
        let name_end = if sql.as_bytes().get(at) == Some(&b'`') {
            quoted_end(sql.as_bytes(), at, b'`')
        } else {
            at + sql[at..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$')
                .count()
        };
        let written = sql[at..name_end].trim_matches('`');
        if !written.eq_ignore_ascii_case(&cte.alias.name.value) {
            return unlocated();
        }
        at = skip_blank(sql, name_end);
        if !word_at(sql, at, "AS") {
            return unlocated();
        }
        at = skip_blank(sql, at + 2);
        if sql.as_bytes().get(at) != Some(&b'(') {
            return unlocated();
        }
        let Some(close) = closing_parenthesis(sql, at + 1) else {
            return unlocated();
        };
        let body = at + 1..close;
        match parse_query(&sql[body.clone()]) {
            Some(q) if q == *cte.query => {}
            _ => return unlocated(),
        }
        if !tables_named(&cte.query, &with_names(with)).is_empty() {
            return refuse("whose query reads another CTE");
        }
        ctes.push((cte.alias.name.value.clone(), body));
        at = skip_blank(sql, close + 1);
        if sql.as_bytes().get(at) == Some(&b',') {
            at = skip_blank(sql, at + 1);
        }
    }
    let main = at..sql.len();
    let main_text = &sql[main.clone()];
    let mut expected = query.as_ref().clone();
    expected.with = None;
    let Some(parsed) = parse_query(main_text).filter(|q| *q == expected) else {
        return unlocated();
    };
    // The references, in text order: where the name stands, whether an alias follows, and
    // which CTE.
    let names = with_names(with);
    let src = SourceText::new(main_text);
    let mut references = Vec::new();
    for (name_span, aliased, cte) in tables_named(&parsed, &names) {
        let Some(range) = src.range(name_span) else {
            return unlocated();
        };
        references.push((range, aliased, cte));
    }
    references.sort_by_key(|(r, ..)| r.start);
    // The statement spliced together, and where each of its parts was in `sql`.
    let mut out = String::with_capacity(sql.len() * 2);
    let mut pieces: Vec<Range<usize>> = Vec::new();
    let mut pos = 0;
    for (range, aliased, cte) in references {
        out.push_str(&main_text[pos..range.start]);
        pieces.push(main.start + pos..main.start + range.start);
        let (name, body) = &ctes[cte];
        out.push('(');
        out.push_str(&sql[body.clone()]);
        pieces.push(body.clone());
        out.push(')');
        if !aliased {
            out.push_str(" AS `");
            out.push_str(&name.replace('`', "``"));
            out.push('`');
        }
        pos = range.end;
    }
    out.push_str(&main_text[pos..]);
    pieces.push(main.start + pos..sql.len());
    // Parameters must keep their order (and each stand once), or the values bound by
    // position would go to other places.
    let mut last = None;
    for piece in pieces {
        for p in placeholders(sql, piece) {
            if last.is_some_and(|l| p <= l) {
                return refuse(
                    "whose queries take parameters out of the statement's order (send it as text)",
                );
            }
            last = Some(p);
        }
    }
    Ok(Some(out))
}

fn with_names(with: &sqlparser::ast::With) -> Vec<String> {
    with.cte_tables
        .iter()
        .map(|c| c.alias.name.value.to_ascii_lowercase())
        .collect()
}

/// The tables of `query` named as one of `names` (no schema): each name's span, whether
/// it has an alias, and which name.
fn tables_named(query: &Query, names: &[String]) -> Vec<(sqlparser::tokenizer::Span, bool, usize)> {
    struct Found<'n> {
        names: &'n [String],
        found: Vec<(sqlparser::tokenizer::Span, bool, usize)>,
    }
    impl Visitor for Found<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, .. } = factor {
                if let [part] = name.0.as_slice() {
                    if let Some(ident) = part.as_ident() {
                        let lower = ident.value.to_ascii_lowercase();
                        if let Some(i) = self.names.iter().position(|n| *n == lower) {
                            self.found.push((ident.span, alias.is_some(), i));
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut found = Found {
        names,
        found: Vec::new(),
    };
    let _ = query.visit(&mut found);
    found.found
}

fn parse_query(text: &str) -> Option<Query> {
    match Parser::parse_sql(&MySqlDialect {}, text).ok()?.as_slice() {
        [Statement::Query(q)] => Some(q.as_ref().clone()),
        _ => None,
    }
}

/// Whether the word `word` (case-insensitive, whole) stands at `at`.
fn word_at(text: &str, at: usize, word: &str) -> bool {
    text.get(at..at + word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
        && text
            .as_bytes()
            .get(at + word.len())
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
}

/// Where the `?` placeholders of `text[range]` stand (not in strings or comments).
fn placeholders(text: &str, range: Range<usize>) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = range.start;
    while i < range.end {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'#' | b'-' | b'/' if comment_end(text, i).is_some() => {
                i = comment_end(text, i).unwrap_or(range.end);
                continue;
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inlined(sql: &str) -> Result<Option<String>> {
        let stmt = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        inline(&stmt, sql)
    }

    #[test]
    fn references_become_derived_tables() {
        assert_eq!(
            inlined("WITH paid AS (SELECT order_id FROM t_order WHERE status = 'paid') SELECT COUNT(*) FROM paid").unwrap().as_deref(),
            Some("SELECT COUNT(*) FROM (SELECT order_id FROM t_order WHERE status = 'paid') AS `paid`")
        );
        assert_eq!(
            inlined("with a as (select 1 AS x), `b` AS ( SELECT ? AS y ) /* c */ SELECT * FROM b AS q JOIN a ON a.x = q.y WHERE q.y = ?").unwrap().as_deref(),
            Some("SELECT * FROM ( SELECT ? AS y ) AS q JOIN (select 1 AS x) AS `a` ON a.x = q.y WHERE q.y = ?")
        );
    }

    #[test]
    fn what_it_cannot_inline_is_refused() {
        assert!(inlined("WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r").is_err());
        assert!(inlined("WITH r (x) AS (SELECT 1) SELECT * FROM r").is_err());
        assert!(inlined("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b").is_err());
        // A parameter of the CTE would move after the statement's own.
        assert!(inlined(
            "WITH a AS (SELECT ? AS x) SELECT * FROM t WHERE y = ? AND z IN (SELECT x FROM a)"
        )
        .is_err());
        assert_eq!(inlined("SELECT 1").unwrap(), None);
    }
}
