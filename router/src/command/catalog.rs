//! `information_schema` lookups of logical tables (what ORMs and GUI tools run at startup).
//! Backends know only physical tables, so the session keeps a catalog database holding one
//! empty table per logical table; a lookup runs there with the logical schema's name swapped
//! for the catalog's.

use crate::error::Result;

/// Whether a statement reads `information_schema` (cheap substring checks first: this runs
/// for every SELECT).
pub fn names_information_schema(sql: &str) -> bool {
    (sql.contains("_schema.") || sql.contains("_SCHEMA.") || sql.contains("_Schema."))
        && sql.to_ascii_uppercase().contains("INFORMATION_SCHEMA.")
}

/// The database on the first backend that holds one empty table per logical table, where
/// `information_schema` lookups of the logical schema run.
pub const CATALOG_DATABASE: &str = "shardgate_catalog";

/// The statement to run in the catalog: the logical schema's name, where the statement
/// names it as a string (`'shop'`) or as `DATABASE()`, swapped for the catalog's. Planned
/// like any statement first: `information_schema` tables alone, allowed functions; then
/// every table it reads is confined to the catalog's rows (`catalog_scope`).
pub fn catalog_query(sql: &str, schema: &str, catalog: &str) -> Result<String> {
    let rewritten = swap_schema(sql, schema, catalog);
    let statement = crate::analyze::policy::check_information_schema(&rewritten)?;
    super::catalog_scope::confine(statement, catalog)
}

fn swap_schema(sql: &str, schema: &str, catalog: &str) -> String {
    let literals = crate::normalize(sql).literals;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for literal in literals {
        if let crate::ParamValue::Str(s) = &literal.value {
            if s.eq_ignore_ascii_case(schema) {
                out.push_str(&sql[at..literal.span.start]);
                out.push('\'');
                out.push_str(catalog);
                out.push('\'');
                at = literal.span.end;
            }
        }
    }
    out.push_str(&sql[at..]);
    replace_ci(&out, "DATABASE()", &format!("'{catalog}'"))
}

fn replace_ci(text: &str, pattern: &str, with: &str) -> String {
    let upper = text.to_ascii_uppercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = upper[at..].find(pattern) {
        out.push_str(&text[at..at + i]);
        out.push_str(with);
        at += i + pattern.len();
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::swap_schema;

    #[test]
    fn swaps_the_schema_name() {
        assert_eq!(
            swap_schema("SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'shop_x'", "shop", "cat"),
            "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'cat' AND TABLE_NAME = 'shop_x'"
        );
        assert_eq!(
            swap_schema("select column_name from information_schema.columns where table_schema = database()", "shop", "cat"),
            "select column_name from information_schema.columns where table_schema = 'cat'"
        );
    }
}
