//! A prepared read over several tables, run as text: its per-server statements name the
//! tables its values reach, so prepared they would be new server-side statements on nearly
//! every execute (a 100-id range over 32 x 32 tables is one of ~1,024 texts per backend
//! connection, each prepared, executed once and evicted). As text each is parsed once, the
//! server keeps no statement, and the merged rows are re-encoded as binary rows.
//!
//! Only where that is exact: every value is an integer or NULL, whose literal means what
//! the typed parameter means, and no column is FLOAT or DOUBLE, the only types whose text
//! spelling loses digits (MariaDB writes a FLOAT with six).

use shardgate_router::{ParamValue, Params, Plan, Step, Template};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// `plan`, a prepared read over several tables, bound again with `values` written
    /// in; `None` where that would not be exact (see the module's comment). The caller
    /// knows the columns' types.
    pub(super) fn rebind_as_text(
        &self,
        plan: &Plan,
        template: &Template,
        values: &[ParamValue<'_>],
    ) -> Option<Plan> {
        let Step::Scatter(scatter) = &plan.step else {
            return None;
        };
        if scatter.statements.len() < 2
            || !values
                .iter()
                .all(|v| matches!(v, ParamValue::Int(_) | ParamValue::Null))
        {
            return None;
        }
        let routing = self.ctx.migrations.router();
        let router = routing.as_ref().map_or(&self.rules.router, |r| &r.router);
        let text_plan = template
            .bind(router.topology(), Params::Inline(values))
            .ok()?;
        matches!(&text_plan.step, Step::Scatter(s) if s.statements.len() == scatter.statements.len())
            .then_some(text_plan)
    }
}
