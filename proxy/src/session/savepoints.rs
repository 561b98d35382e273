//! Savepoints that span backends. A transaction pins one connection per backend it touches,
//! and backends join it as statements reach them; a savepoint taken before a backend joined
//! must exist there too, or `ROLLBACK TO` fails on it (1305) and the client's error handling
//! (Django's nested `atomic()`) rolls back more than it meant to. So the session keeps the
//! transaction's savepoints in order and sets them on each backend as it joins: everything
//! that backend does comes after them, which is where MySQL would have them.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::wire::OkInfo;
use shardgate_router::command::SavepointOp;

/// The open transaction's savepoints, oldest first, as written (`sp`, `` `my sp` ``).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Savepoints {
    names: Vec<String>,
}

fn same(a: &str, b: &str) -> bool {
    a.trim_matches('`')
        .eq_ignore_ascii_case(b.trim_matches('`'))
}

impl Savepoints {
    /// Applies a statement that succeeded; `false` when it names a savepoint that does not
    /// exist (MySQL's 1305).
    pub fn apply(&mut self, op: &SavepointOp) -> bool {
        match op {
            SavepointOp::Set(name) => {
                // Setting an existing name moves it.
                self.names.retain(|n| !same(n, name));
                self.names.push(name.clone());
                true
            }
            SavepointOp::RollbackTo(name) => match self.position(name) {
                // The savepoint stays; later ones go.
                Some(i) => {
                    self.names.truncate(i + 1);
                    true
                }
                None => false,
            },
            SavepointOp::Release(name) => match self.position(name) {
                Some(i) => {
                    self.names.truncate(i);
                    true
                }
                None => false,
            },
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| same(n, name))
    }

    /// The statements that set the savepoints on a backend joining the transaction.
    pub fn replay(&self) -> impl Iterator<Item = String> + '_ {
        self.names.iter().map(|n| format!("SAVEPOINT {n}"))
    }

    pub fn clear(&mut self) {
        self.names.clear();
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// SAVEPOINT / ROLLBACK TO / RELEASE: run on every connection the transaction holds, and
    /// remembered for the backends that join it later.
    pub(crate) async fn savepoint_statement(
        &mut self,
        op: SavepointOp,
    ) -> Result<(), SessionError> {
        if !self.transactional() {
            // Outside a transaction MySQL accepts SAVEPOINT and forgets it at once.
            return match op {
                SavepointOp::Set(_) => self.send_ok(OkInfo::default()).await,
                SavepointOp::RollbackTo(name) | SavepointOp::Release(name) => {
                    self.no_such_savepoint(&name).await
                }
            };
        }
        if let SavepointOp::RollbackTo(name) | SavepointOp::Release(name) = &op {
            if !self.state.tx.savepoints.exists(name) {
                return self.no_such_savepoint(name).await;
            }
        }
        let statement = match &op {
            SavepointOp::Set(name) => format!("SAVEPOINT {name}"),
            SavepointOp::RollbackTo(name) => format!("ROLLBACK TO SAVEPOINT {name}"),
            SavepointOp::Release(name) => format!("RELEASE SAVEPOINT {name}"),
        };
        let backends: Vec<usize> = self.pinned.backends().collect();
        for b in backends {
            if let Some(conn) = self.pinned.get_mut(b) {
                if let Err(e) = conn.execute_internal(&statement).await {
                    return self.send_backend_error(&e).await;
                }
            }
        }
        self.state.tx.savepoints.apply(&op);
        self.send_ok(OkInfo::default()).await
    }

    async fn no_such_savepoint(&mut self, name: &str) -> Result<(), SessionError> {
        let message = format!("SAVEPOINT {} does not exist", name.trim_matches('`'));
        self.send_error(codes::ER_SP_DOES_NOT_EXIST, &message).await
    }
}

#[cfg(test)]
mod tests {
    use super::{SavepointOp as Op, Savepoints};

    #[test]
    fn keeps_the_savepoints_mysql_keeps() {
        let mut s = Savepoints::default();
        for n in ["a", "b", "c"] {
            assert!(s.apply(&Op::Set(n.into())));
        }
        assert!(s.apply(&Op::RollbackTo("B".into())));
        assert_eq!(
            s.replay().collect::<Vec<_>>(),
            ["SAVEPOINT a", "SAVEPOINT b"]
        );
        assert!(s.apply(&Op::Set("a".into())));
        assert_eq!(
            s.replay().collect::<Vec<_>>(),
            ["SAVEPOINT b", "SAVEPOINT a"]
        );
        assert!(s.apply(&Op::Release("b".into())));
        assert_eq!(s.replay().count(), 0);
        assert!(!s.apply(&Op::RollbackTo("b".into())));
    }
}
