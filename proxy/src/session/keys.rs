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
        let rules = self.rules.clone();
        let routing = ctx.migrations.router();
        let router = routing.as_ref().map_or(&rules.router, |r| &r.router);
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
    pub(crate) async fn answer_nextval(&mut self, name: &str) -> Result<(), SessionError> {
        let column = format!("NEXTVAL('{name}')");
        match self.ctx.clone().keys.take(name, 1).await {
            Ok(ids) => {
                let result =
                    TextResult::new(&[&column]).row(vec![ids.first().map(|id| id.to_string())]);
                self.write_result(result).await
            }
            Err(e) => {
                self.send_error(codes::ER_UNKNOWN_ERROR, &format!("shardgate: {e}"))
                    .await
            }
        }
    }
}
