//! The client sessions a proxy serves, for `SHOW PROCESSLIST` and `SHOW SHARDGATE
//! SESSIONS`: who each is and what it runs now. A session registers when it starts serving
//! and is gone when it ends; it updates its activity at each command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The most of a statement's text the processlist keeps.
pub const INFO_LIMIT: usize = 64 * 1024;

/// Every session the proxy serves now, by connection id.
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<u32, Arc<SessionEntry>>>,
}

/// One session as the processlist shows it.
pub struct SessionEntry {
    pub id: u32,
    pub host: String,
    /// KILL of this session: what it holds and whether it was killed.
    pub kill: Arc<crate::kill_switch::KillSwitch>,
    activity: Mutex<Activity>,
}

struct Activity {
    /// The account logged in (COM_CHANGE_USER changes it).
    user: String,
    /// The command running (`Query`, `Execute`, ...), or `Sleep` between commands.
    command: &'static str,
    since: Instant,
    /// The statement text running; empty between commands.
    info: String,
    database: Option<String>,
}

/// A row of the processlist: id, user, host, database, command, seconds in it, statement.
pub struct SessionRow {
    pub id: u32,
    pub user: String,
    pub host: String,
    pub database: Option<String>,
    pub command: &'static str,
    pub seconds: u64,
    pub info: Option<String>,
}

impl SessionRegistry {
    /// Registers a session; it is removed when the returned guard drops.
    pub fn register(
        self: &Arc<Self>,
        id: u32,
        user: &str,
        host: &str,
        database: Option<String>,
    ) -> RegisteredSession {
        let entry = Arc::new(SessionEntry {
            id,
            host: host.to_string(),
            kill: Arc::default(),
            activity: Mutex::new(Activity {
                user: user.to_string(),
                command: "Sleep",
                since: Instant::now(),
                info: String::new(),
                database,
            }),
        });
        self.lock().insert(id, entry.clone());
        RegisteredSession {
            registry: self.clone(),
            entry,
        }
    }

    /// The sessions `user` may see (every one when `None`), by id.
    pub fn rows(&self, user: Option<&str>) -> Vec<SessionRow> {
        let entries: Vec<Arc<SessionEntry>> = self
            .lock()
            .values()
            .filter(|e| user.is_none_or(|u| e.user() == u))
            .cloned()
            .collect();
        let mut rows: Vec<SessionRow> = entries.iter().map(|e| e.row()).collect();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// The session with connection id `id`, if it is served now.
    pub fn get(&self, id: u32) -> Option<Arc<SessionEntry>> {
        self.lock().get(&id).cloned()
    }

    /// How many sessions are served now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<SessionEntry>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionEntry {
    /// The session starts `command`, running `info` (statement text, when it has one; its
    /// first [`INFO_LIMIT`] bytes: a 16 MiB INSERT is not copied at each statement).
    pub fn start(&self, command: &'static str, info: &str, database: Option<&str>) {
        let mut end = info.len().min(INFO_LIMIT);
        while !info.is_char_boundary(end) {
            end -= 1;
        }
        let mut a = self.lock();
        a.command = command;
        a.since = Instant::now();
        a.info.clear();
        a.info.push_str(&info[..end]);
        if a.database.as_deref() != database {
            a.database = database.map(str::to_string);
        }
    }

    /// The account the session is logged in as.
    pub fn user(&self) -> String {
        self.lock().user.clone()
    }

    /// The session logged in again as `user` (COM_CHANGE_USER).
    pub fn set_user(&self, user: &str) {
        self.lock().user = user.to_string();
    }

    /// Whether a command runs now.
    pub fn is_running(&self) -> bool {
        self.lock().command != "Sleep"
    }

    /// The command ended: the session sleeps.
    pub fn finish(&self) {
        let mut a = self.lock();
        a.command = "Sleep";
        a.since = Instant::now();
        a.info.clear();
    }

    fn row(&self) -> SessionRow {
        let a = self.lock();
        SessionRow {
            id: self.id,
            user: a.user.clone(),
            host: self.host.clone(),
            database: a.database.clone(),
            command: a.command,
            seconds: a.since.elapsed().as_secs(),
            info: (!a.info.is_empty()).then(|| a.info.clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A session's place in the registry, given up when dropped.
pub struct RegisteredSession {
    registry: Arc<SessionRegistry>,
    pub entry: Arc<SessionEntry>,
}

impl Drop for RegisteredSession {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.entry.id);
    }
}
