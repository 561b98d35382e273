//! Binding statements whose INSERT rows need generated keys, and `SELECT NEXTVAL(...)`.

use shardgate_router::{KeyError, ParamValue, Params, Plan, RouterError, Template};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::keygen::TakenKeys;
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Binds a prepared statement's template. Keys come from generators that answer at
    /// once; when one must wait (a segment loading, a lease being taken), the ids are
    /// awaited and the template bound again with them.
    pub(crate) async fn bind_prepared(
        &mut self,
        template: &Template,
        values: &[ParamValue<'_>],
    ) -> Result<Plan, RouterError> {
        let ctx = self.ctx.clone();
        let routing = ctx.migrations.router();
        let router = routing.as_ref().map_or(&ctx.router, |r| &r.router);
        let topology = router.topology();
        // Prepared before a table was cut over (or rolled back): analyze it again for the
        // layout that now holds it.
        let fresh;
        let mut template = template;
        let mut bound =
            template.bind_with_keys(topology, Params::Prepared(values), &mut ctx.keys.source());
        if matches!(bound, Err(RouterError::StaleTemplate)) {
            fresh = router.prepare(template.text())?;
            template = &fresh;
            bound =
                template.bind_with_keys(topology, Params::Prepared(values), &mut ctx.keys.source());
        }
        let Err(RouterError::Keys(KeyError::NotReady { generator, count })) = bound else {
            return bound;
        };
        let ids = ctx
            .keys
            .take(&generator, count)
            .await
            .map_err(RouterError::Keys)?;
        template.bind_with_keys(
            topology,
            Params::Prepared(values),
            &mut TakenKeys { generator, ids },
        )
    }

    /// `SELECT NEXTVAL('generator')`: the next id of a configured key generator, as one row.
    /// Returns whether the statement was one.
    pub(crate) async fn answer_nextval(&mut self, sql: &str) -> Result<bool, SessionError> {
        // A look at the word after SELECT first: this runs for every short SELECT.
        let after_select = sql.trim_start().get(6..).unwrap_or("").trim_start();
        if !after_select
            .get(..7)
            .is_some_and(|w| w.eq_ignore_ascii_case("NEXTVAL"))
        {
            return Ok(false);
        }
        let Some(name) = nextval_of(sql) else {
            return Ok(false);
        };
        let column = format!("NEXTVAL('{name}')");
        match self.ctx.clone().keys.take(&name, 1).await {
            Ok(ids) => {
                let result = TextResult::new(&[&column]).row(vec![Some(ids[0].to_string())]);
                self.write_result(result).await?;
            }
            Err(e) => {
                self.send_error(codes::ER_UNKNOWN_ERROR, &format!("shardgate: {e}"))
                    .await?;
            }
        }
        Ok(true)
    }
}

/// The generator name of `SELECT NEXTVAL('name')` (any case, spacing, trailing `;`).
fn nextval_of(sql: &str) -> Option<String> {
    let compact: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let compact = compact.trim_end_matches(';').trim_end();
    let strip = |text: &'_ str, word: &str| -> Option<String> {
        let head = text.get(..word.len())?;
        head.eq_ignore_ascii_case(word)
            .then(|| text[word.len()..].trim_start().to_string())
    };
    let rest = strip(compact, "SELECT ")?;
    let rest = strip(&rest, "NEXTVAL")?;
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
    let name = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    (!name.is_empty() && !name.contains('\'')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::nextval_of;

    #[test]
    fn nextval_names() {
        assert_eq!(
            nextval_of("SELECT NEXTVAL('order_id_gen')").as_deref(),
            Some("order_id_gen")
        );
        assert_eq!(
            nextval_of("select nextval( 'Seq' ) ;").as_deref(),
            Some("Seq")
        );
        assert_eq!(nextval_of("SELECT NEXTVAL(order_id_gen)"), None);
        assert_eq!(nextval_of("SELECT NEXTVAL('a'), 1"), None);
        assert_eq!(nextval_of("SELECT 1"), None);
    }
}
