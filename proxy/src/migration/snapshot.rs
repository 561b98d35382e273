//! What the proxy acts on for migrations, published as one value: the routing (which tables
//! go by their new layout) and each migrating table's phase change together. A statement
//! planned by a snapshot's routing writes by the phase the same snapshot names, so the two
//! never disagree (before, the routing and the phases changed one after the other, and a
//! write had to wait until they agreed).

use std::collections::HashMap;
use std::sync::Arc;

use shardgate_migrate::Phase;
use shardgate_router::Router;

use super::ActiveMigration;

/// Routing while tables are cut over: the proxy's topology with each of `tables` laid out
/// as its migration's target config does.
pub struct CutOverRouting {
    pub router: Router,
    /// Lower-cased names of the tables it routes by their new layout.
    pub(super) tables: Vec<String>,
}

impl CutOverRouting {
    /// Whether `table` goes by its new layout under this routing.
    pub fn covers(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t.eq_ignore_ascii_case(table))
    }
}

/// One table's migration as a snapshot has it.
#[derive(Clone)]
pub struct TableMigration {
    pub migration: Arc<ActiveMigration>,
    /// The phase this snapshot acts on. The migration's own phase moves to it when the
    /// snapshot is published (a write checks the two agree once it is counted, see
    /// [`ActiveMigration::begin_write`]).
    pub phase: Phase,
}

impl TableMigration {
    /// Whether statements on the table go by the new layout in this phase.
    pub fn by_target(&self) -> bool {
        matches!(self.phase, Phase::CutOver | Phase::Finished)
    }
}

#[derive(Default)]
pub struct MigrationSnapshot {
    /// The routing for cut-over tables; `None` while none is.
    pub(super) cut_over: Option<Arc<CutOverRouting>>,
    /// Lower-cased table name -> its migration, for those the proxy acts on.
    pub(super) tables: HashMap<String, TableMigration>,
    /// Lower-cased table name -> why its migration was not taken up.
    pub(super) refused: HashMap<String, String>,
}

impl MigrationSnapshot {
    /// The routing to use instead of the proxy's own; `None`: the proxy's own.
    pub fn routing(&self) -> Option<&Arc<CutOverRouting>> {
        self.cut_over.as_ref()
    }

    /// `router` when no table is cut over, else the cut-over routing's.
    pub fn router<'a>(&'a self, own: &'a Router) -> &'a Router {
        self.cut_over.as_ref().map_or(own, |r| &r.router)
    }

    /// How many tables have a migration the proxy acts on.
    pub fn migrating_tables(&self) -> usize {
        self.tables.len()
    }

    pub fn table(&self, name: &str) -> Option<&TableMigration> {
        self.tables.get(&name.to_ascii_lowercase())
    }

    pub fn refused(&self, name: &str) -> Option<&str> {
        self.refused
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

impl MigrationSnapshot {
    /// The tables with a migration the proxy acts on or refused, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .keys()
            .chain(self.refused.keys())
            .cloned()
            .collect();
        names.sort();
        names
    }
}
