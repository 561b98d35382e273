//! `INSERT/REPLACE/DELETE ... RETURNING` on several tables: each physical statement answers
//! with rows, and the client gets one result holding them all, an INSERT's in the order of
//! its VALUES rows (ORMs pair the returned keys with their objects by that order). The rows
//! are read whole (a write's RETURNING holds as many rows as it wrote) and passed through as
//! the backends wrote them.

use shardgate_router::Returning;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::backend::BackendError;
use crate::engine::fanout::Job;
use crate::protocol::codes;

/// One statement's answer: its column definitions and text rows.
type Answer = (Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>);

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Runs the statements of a write with RETURNING and answers with their rows as one
    /// result. `one_copy`: broadcast copies, which return the same rows; the first copy's
    /// are the answer.
    pub(crate) async fn fan_out_returning(
        &mut self,
        jobs: Vec<(usize, Job)>,
        returning: Returning,
        one_copy: bool,
    ) -> Result<(), SessionError> {
        let mut texts = Vec::with_capacity(jobs.len());
        for (n, (backend, job)) in jobs.into_iter().enumerate() {
            match job {
                Job::Text(sql) => texts.push((backend, (n, sql))),
                _ => {
                    return self
                        .send_error(
                            codes::ER_NOT_SUPPORTED_YET,
                            "shardgate: a prepared INSERT or DELETE ... RETURNING that reaches several tables is not supported yet (send it as text, or give keys that reach one table)",
                        )
                        .await
                }
            }
        }
        let statements = texts.len();
        let insert_id = self.state.generated_insert_id.take();
        let lanes = match self.lanes(texts).await {
            Ok(lanes) => lanes,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let mut answers: Vec<Option<Answer>> = vec![None; statements];
        let mut failure: Option<BackendError> = None;
        for (backend, mut conn, jobs) in lanes {
            for (n, sql) in jobs {
                if failure.is_some() {
                    break;
                }
                match conn.query_with_definitions(&sql).await {
                    Ok(answer) => answers[n] = Some(answer),
                    Err(e) => failure = Some(e),
                }
            }
            self.give_back(backend, conn);
        }
        if let Some(e) = failure {
            return self.send_backend_error(&e).await;
        }
        let mut answers: Vec<Answer> = answers.into_iter().flatten().collect();
        if answers.len() != statements {
            return self
                .send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: a statement of this RETURNING write gave no answer",
                )
                .await;
        }
        if one_copy {
            answers.truncate(1);
        }
        let mut definitions = answers.first().map(|a| a.0.clone()).unwrap_or_default();
        for definition in &mut definitions {
            self.rules.names.rewrite_column(definition);
        }
        let rows = in_written_order(answers, &returning.row_order);
        if let Some(id) = insert_id {
            self.state.last_insert_id = id;
        }
        let (status, deprecate_eof) = (self.status(), self.deprecate_eof());
        self.writer
            .result_header(definitions.iter().map(Vec::as_slice), status, deprecate_eof)
            .await?;
        let mut scratch = Vec::with_capacity(64);
        for row in &rows {
            self.writer.text_row(row, &mut scratch).await?;
        }
        self.writer.end_of_rows(0, status, deprecate_eof).await?;
        Ok(())
    }
}

/// The statements' rows as one list: by `row_order` (each statement's rows' positions in the
/// client's statement) when every statement returned one row per row it wrote, else one
/// statement after the other.
fn in_written_order(answers: Vec<Answer>, row_order: &[Vec<usize>]) -> Vec<Vec<Option<Vec<u8>>>> {
    let fits = row_order.len() == answers.len()
        && answers
            .iter()
            .zip(row_order)
            .all(|(answer, order)| answer.1.len() == order.len());
    if !fits {
        return answers.into_iter().flat_map(|a| a.1).collect();
    }
    let total = row_order.iter().map(Vec::len).sum();
    let mut placed: Vec<Option<Vec<Option<Vec<u8>>>>> = vec![None; total];
    for (answer, order) in answers.into_iter().zip(row_order) {
        for (row, &at) in answer.1.into_iter().zip(order) {
            if let Some(slot) = placed.get_mut(at) {
                *slot = Some(row);
            }
        }
    }
    placed.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::in_written_order;

    fn row(v: &str) -> Vec<Option<Vec<u8>>> {
        vec![Some(v.as_bytes().to_vec())]
    }

    #[test]
    fn rows_come_back_in_the_order_written() {
        let answers = vec![
            (Vec::new(), vec![row("b"), row("d")]),
            (Vec::new(), vec![row("a"), row("c")]),
        ];
        let rows = in_written_order(answers.clone(), &[vec![1, 3], vec![0, 2]]);
        assert_eq!(rows, vec![row("a"), row("b"), row("c"), row("d")]);
        // A statement that returned other than one row per row written: as they came.
        let rows = in_written_order(answers, &[vec![1], vec![0, 2]]);
        assert_eq!(rows, vec![row("b"), row("d"), row("a"), row("c")]);
    }
}
