//! The router's entry points.

use std::sync::Arc;

use shardgate_config::Topology;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::analyze::analyze;
use crate::bind::Params;
use crate::cache::{Entry, ShapeCache};
use crate::error::{Result, RouterError};
use crate::keys::{KeySource, NoKeys};
use crate::normalize::normalize;
use crate::plan::Plan;
use crate::template::{topology_id, Template};

/// Turns logical statements into plans for one topology. Immutable and cheap to share; the
/// per-session [`ShapeCache`] is passed in.
#[derive(Debug, Clone)]
pub struct Router {
    topology: Arc<Topology>,
}

impl Router {
    pub fn new(topology: Arc<Topology>) -> Self {
        Router { topology }
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    /// Routes a text statement (COM_QUERY), reusing the analysis of earlier statements of
    /// the same shape.
    pub fn route(&self, sql: &str, cache: &mut ShapeCache) -> Result<Plan> {
        self.route_with_keys(sql, cache, &mut NoKeys)
    }

    /// [`Self::route`], with generated keys for INSERT rows that need them from `keys`.
    pub fn route_with_keys(
        &self,
        sql: &str,
        cache: &mut ShapeCache,
        keys: &mut dyn KeySource,
    ) -> Result<Plan> {
        cache.use_topology(topology_id(&self.topology));
        let normalized = normalize(sql);
        let params = Params::Text {
            sql,
            literals: &normalized.literals,
        };
        match cache.get(&normalized.shape) {
            Some(Entry::Template(template)) => {
                return template.bind_with_keys(&self.topology, params, keys)
            }
            Some(Entry::Unshaped) => return self.route_uncached_with_keys(sql, keys),
            None => {}
        }
        match self.prepare(&normalized.shape) {
            Ok(template)
                if template.param_count() == normalized.literals.len()
                    && !template.literal_sensitive =>
            {
                let template = Arc::new(template);
                cache.insert(normalized.shape.clone(), Entry::Template(template.clone()));
                template.bind_with_keys(&self.topology, params, keys)
            }
            _ => {
                cache.insert(normalized.shape.clone(), Entry::Unshaped);
                self.route_uncached_with_keys(sql, keys)
            }
        }
    }

    /// Routes a text statement by parsing it as it is, without the shape cache.
    pub fn route_uncached(&self, sql: &str) -> Result<Plan> {
        self.route_uncached_with_keys(sql, &mut NoKeys)
    }

    fn route_uncached_with_keys(&self, sql: &str, keys: &mut dyn KeySource) -> Result<Plan> {
        self.prepare(sql)?
            .bind_with_keys(&self.topology, Params::Text { sql, literals: &[] }, keys)
    }

    /// `sql`, an INSERT into a sharded table without a column list (refused with
    /// [`RouterError::InsertWithoutColumns`]), with the table's `columns` written in, in
    /// their order: plan that instead.
    pub fn insert_with_columns(&self, sql: &str, columns: &[String]) -> Result<String> {
        crate::analyze::insert_with_columns(sql, columns)
    }

    /// Parses and analyzes a statement whose `?` are parameters (COM_STMT_PREPARE). Bind the
    /// template with [`Params::Prepared`] on every execute.
    pub fn prepare(&self, sql: &str) -> Result<Template> {
        crate::depth::check_expression_depth(sql)?;
        let spelled = spelled_for_the_parser(sql);
        let folded = crate::fold::Folds::fold(&spelled);
        let read = folded
            .as_ref()
            .map_or(spelled.as_ref(), |(parsed, _)| parsed.as_str());
        let statements = Parser::parse_sql(&MySqlDialect {}, read).map_err(|e| {
            crate::analyze::policy::refused_unparsed(sql)
                .unwrap_or_else(|| RouterError::Parse(e.to_string()))
        })?;
        match statements.as_slice() {
            [statement] => match analyze(statement, sql, folded, &self.topology) {
                // WITH over sharded tables: planned again with each CTE written in where it
                // is read, as a derived table.
                Err(refused) => match crate::analyze::cte::inline(statement, sql)? {
                    Some(inlined) => self.prepare(&inlined),
                    None => Err(refused),
                },
                analyzed => analyzed,
            },
            other => Err(RouterError::StatementCount(other.len())),
        }
    }
}

/// MySQL spellings sqlparser does not read, respelled for the parser alone at the same
/// length (so every span still points into the client's text, which is what the backends
/// get): `LOCK IN SHARE MODE` is read as `FOR SHARE`.
fn spelled_for_the_parser(sql: &str) -> std::borrow::Cow<'_, str> {
    const MYSQL: &str = "LOCK IN SHARE MODE";
    const PARSED: &str = "FOR SHARE         ";
    let bytes = sql.as_bytes();
    let mut out: Option<String> = None;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q != b'`' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None if matches!(c, b'\'' | b'"' | b'`') => quote = Some(c),
            None if (c == b'L' || c == b'l')
                && bytes
                    .get(i..i + MYSQL.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(MYSQL.as_bytes()))
                && (i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b')') =>
            {
                let text = out.get_or_insert_with(|| sql.to_string());
                text.replace_range(i..i + MYSQL.len(), PARSED);
                i += MYSQL.len();
                continue;
            }
            None => {}
        }
        i += 1;
    }
    match out {
        Some(text) => std::borrow::Cow::Owned(text),
        None => std::borrow::Cow::Borrowed(sql),
    }
}
