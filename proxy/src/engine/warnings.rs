//! Warnings of physical statements. A statement's warnings can be read only from the
//! connection that ran it, before it runs anything else; so where an answer reports warnings,
//! the executor reads them there and then (a round trip paid only when there are some), and
//! hands them up with the answer.

use std::sync::{Arc, Mutex};

use crate::backend::BackendConn;

/// One row of SHOW WARNINGS: Level, Code, Message (as the server wrote it: physical names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub level: String,
    pub code: String,
    pub message: String,
}

/// Warnings several statements reported: the counts their OK/EOF packets gave, summed, and
/// the rows read.
#[derive(Debug, Clone, Default)]
pub struct Warnings {
    pub count: u64,
    pub conditions: Vec<Condition>,
}

impl Warnings {
    pub fn add(&mut self, other: Warnings) {
        self.count += other.count;
        self.conditions.extend(other.conditions);
    }
}

/// Warnings collected by tasks running in parallel (a scatter's readers).
#[derive(Debug, Clone, Default)]
pub struct WarningSink(Arc<Mutex<Warnings>>);

impl WarningSink {
    pub fn add(&self, warnings: Warnings) {
        if let Ok(mut all) = self.0.lock() {
            all.add(warnings);
        }
    }

    pub fn count(&self) -> u64 {
        self.0.lock().map_or(0, |w| w.count)
    }

    pub fn take(&self) -> Warnings {
        self.0
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// Reads the warnings of the statement `conn` just ran, which reported `count` of them.
/// A failure to read them loses their text, never the statement's answer.
pub async fn read_warnings(conn: &mut BackendConn, count: u16) -> Warnings {
    if count == 0 {
        return Warnings::default();
    }
    let conditions = match conn.query_rows("SHOW WARNINGS").await {
        Ok((_, rows)) => rows
            .into_iter()
            .map(|row| {
                let mut values = row.into_iter().map(Option::unwrap_or_default);
                Condition {
                    level: values.next().unwrap_or_default(),
                    code: values.next().unwrap_or_default(),
                    message: values.next().unwrap_or_default(),
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Warnings {
        count: u64::from(count),
        conditions,
    }
}
