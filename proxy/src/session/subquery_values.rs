//! A subquery over a sharded table in a SELECT's WHERE (`Step::SubqueryValues`): it runs
//! first, merged over every shard, and its answer is written into the statement, which
//! then runs as a statement of its own. Between the two, other clients' writes may land
//! (as between the shards of any scatter); inside a transaction both read the same snapshot
//! of each backend.

use shardgate_router::{SubqueryAnswerError, SubqueryKind, SubqueryValues};
use tokio::io::{AsyncRead, AsyncWrite};

use super::subquery::{is_number, Column};
use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::protocol::codes;

/// MySQL's error for a scalar subquery that gives more than one row.
const ER_SUBQUERY_NO_1_ROW: (u16, &str) = (1242, "21000");

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// `to_binary`: a prepared statement's client, which reads binary rows: the statement
    /// with the answer written in runs as text, its rows re-encoded.
    pub(crate) async fn subquery_values(
        &mut self,
        values: SubqueryValues,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let Some(statement) = self.answered(values).await? else {
            return Ok(());
        };
        if !to_binary {
            return Box::pin(self.com_query(&statement)).await;
        }
        match Box::pin(self.plan_select(&statement)).await? {
            Some(step) => Box::pin(self.execute_step(step, |t| Job::Text(t.sql), true)).await,
            None => Ok(()),
        }
    }

    /// The statement with the subquery's answer written in; `None` when an error went to
    /// the client.
    pub(super) async fn answered(
        &mut self,
        values: SubqueryValues,
    ) -> Result<Option<String>, SessionError> {
        let column = match values.kind {
            SubqueryKind::In => Column::Only(usize::MAX),
            // Two rows are enough to know there are too many.
            SubqueryKind::Scalar => Column::Only(2),
            SubqueryKind::Exists => Column::AnyRow,
        };
        let chosen = match Box::pin(self.first_phase(&values.inner_sql, column)).await? {
            Some(chosen) => chosen,
            None => return Ok(None),
        };
        let mut literals: Vec<String> = Vec::new();
        if values.kind == SubqueryKind::Exists {
            // Only whether there was a row counts.
            literals.extend(chosen.keys.iter().map(|_| "1".to_string()));
        } else {
            let numeric = chosen.numeric();
            let mut seen = std::collections::HashSet::new();
            for value in &chosen.keys {
                let literal = match value {
                    None => "NULL".to_string(),
                    Some(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) if numeric && is_number(text) => text.to_string(),
                        _ => {
                            self.send_error(
                                codes::ER_NOT_SUPPORTED_YET,
                                "shardgate: a subquery over a sharded table whose values are not numbers is not supported yet (strings and dates would need the column's collation)",
                            )
                            .await?;
                            return Ok(None);
                        }
                    },
                };
                // IN compares with each distinct value once; a scalar subquery's rows all
                // count.
                if values.kind == SubqueryKind::Scalar || seen.insert(literal.clone()) {
                    literals.push(literal);
                }
                if literals.len() > SubqueryValues::MAX_VALUES {
                    let message = format!(
                        "shardgate: IN (SELECT ...) over a sharded table gives more than {} distinct values; narrow the subquery",
                        SubqueryValues::MAX_VALUES
                    );
                    self.send_error(codes::ER_NOT_SUPPORTED_YET, &message)
                        .await?;
                    return Ok(None);
                }
            }
        }
        match values.statement(&literals) {
            Ok(statement) => Ok(Some(statement)),
            Err(SubqueryAnswerError::MoreThanOneRow) => {
                self.send_error(ER_SUBQUERY_NO_1_ROW, "Subquery returns more than 1 row")
                    .await?;
                Ok(None)
            }
        }
    }
}
