//! Validation and expansion: [`RawConfig`] -> [`Topology`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::algorithm::Algorithm;
use crate::error::ConfigError;
use crate::locate::LineIndex;
use crate::pattern;
use crate::raw::{AlgorithmType, Placement, RawAlgorithm, RawConfig, RawTable, RawTableKind};
use crate::topology::{
    Backend, DatabaseId, LogicalTable, PhysicalDatabase, PoolLimits, Replica, ShardedLayout,
    TableKind, Topology, User,
};

pub(crate) fn build(text: &str, file: &Path) -> Result<Topology, ConfigError> {
    let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ConfigError::Syntax {
            file: file.to_path_buf(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let builder = Builder {
        file,
        lines: LineIndex::build(text),
    };
    builder.build(raw)
}

pub(crate) struct Builder<'a> {
    pub(crate) file: &'a Path,
    lines: LineIndex,
}

impl Builder<'_> {
    pub(crate) fn invalid(
        &self,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let path = path.into();
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            line: self.lines.line_of(&path),
            path,
            message: message.into(),
        }
    }

    fn build(&self, raw: RawConfig) -> Result<Topology, ConfigError> {
        check_address(&raw.listen).map_err(|m| self.invalid("listen", m))?;

        let mut seen = HashSet::new();
        for (i, user) in raw.users.iter().enumerate() {
            if !seen.insert(user.name.as_str()) {
                return Err(self.invalid(
                    format!("users[{i}].name"),
                    format!("duplicate user `{}`", user.name),
                ));
            }
            if let Some(problem) = crate::stored_password::stored_password_problem(user) {
                return Err(self.invalid(format!("users[{i}].password"), problem));
            }
        }
        let users = raw
            .users
            .iter()
            .map(|u| User {
                name: u.name.clone(),
                password: u.password.clone(),
                auth_plugin: u.auth_plugin,
                role: u.role,
            })
            .collect();

        let mut backend_index = HashMap::new();
        let mut backends = Vec::with_capacity(raw.backends.len());
        for (i, b) in raw.backends.into_iter().enumerate() {
            if backend_index.insert(b.name.clone(), i).is_some() {
                return Err(self.invalid(
                    format!("backends[{i}].name"),
                    format!("duplicate backend `{}`", b.name),
                ));
            }
            check_address(&b.address)
                .map_err(|m| self.invalid(format!("backends[{i}].address"), m))?;
            if b.pool.max_connections == 0 {
                return Err(self.invalid(
                    format!("backends[{i}].pool.max_connections"),
                    "max_connections must be at least 1",
                ));
            }
            let replicas = b
                .replicas
                .iter()
                .map(|r| Replica {
                    address: r.address.clone(),
                    user: r.user.clone().unwrap_or_else(|| b.user.clone()),
                    password: r.password.clone().unwrap_or_else(|| b.password.clone()),
                })
                .collect();
            backends.push(Backend {
                name: b.name,
                address: b.address,
                user: b.user,
                password: b.password,
                pool: PoolLimits {
                    max_connections: b.pool.max_connections,
                    min_idle: b.pool.min_idle,
                    connect_timeout_ms: b.pool.connect_timeout_ms,
                    query_timeout_ms: b.pool.query_timeout_ms,
                },
                replicas,
            });
        }
        if backends.is_empty() {
            return Err(self.invalid("backends", "at least one backend is needed"));
        }

        let mut databases = Vec::new();
        let mut database_index = HashMap::new();
        for (g, group) in raw.databases.iter().enumerate() {
            let names = pattern::expand(&group.names)
                .map_err(|m| self.invalid(format!("databases[{g}].names"), m))?;
            if group.backends.is_empty() {
                return Err(self.invalid(
                    format!("databases[{g}].backends"),
                    "list at least one backend",
                ));
            }
            let mut ids = Vec::with_capacity(group.backends.len());
            for (b, name) in group.backends.iter().enumerate() {
                let id = backend_index.get(name).ok_or_else(|| {
                    self.invalid(
                        format!("databases[{g}].backends[{b}]"),
                        format!("backend `{name}` is not declared under `backends`"),
                    )
                })?;
                ids.push(*id);
            }
            let per_block = names.len().div_ceil(ids.len());
            for (i, name) in names.into_iter().enumerate() {
                let backend = match group.placement {
                    Placement::Modulo => ids[i % ids.len()],
                    Placement::Contiguous => ids[i / per_block],
                };
                if database_index
                    .insert(name.clone(), databases.len())
                    .is_some()
                {
                    return Err(self.invalid(
                        format!("databases[{g}].names"),
                        format!("database `{name}` is declared twice"),
                    ));
                }
                databases.push(PhysicalDatabase { name, backend });
            }
        }

        let mut tables: Vec<LogicalTable> = Vec::with_capacity(raw.schema.tables.len());
        let mut table_index = HashMap::new();
        for (i, t) in raw.schema.tables.iter().enumerate() {
            if table_index.insert(t.name.to_ascii_lowercase(), i).is_some() {
                return Err(self.invalid(
                    format!("schema.tables[{i}].name"),
                    format!("duplicate logical table `{}`", t.name),
                ));
            }
        }
        // Binding tables copy their target's layout, so targets are built first.
        let mut order: Vec<usize> = (0..raw.schema.tables.len()).collect();
        order.sort_by_key(|i| raw.schema.tables[*i].kind == RawTableKind::Binding);
        let mut built: Vec<Option<LogicalTable>> = vec![None; raw.schema.tables.len()];
        for i in order {
            let t = &raw.schema.tables[i];
            let ctx = TableCtx {
                b: self,
                path: format!("schema.tables[{i}]"),
                raw: t,
            };
            let kind = match t.kind {
                RawTableKind::Sharded => {
                    ctx.only(&[
                        ("bind_to", t.bind_to.is_some()),
                        ("database", t.database.is_some()),
                    ])?;
                    TableKind::Sharded(ctx.sharded(&database_index, i)?)
                }
                RawTableKind::Binding => {
                    ctx.only(&[("database", t.database.is_some())])?;
                    TableKind::Sharded(ctx.binding(&database_index, &table_index, &built)?)
                }
                RawTableKind::Broadcast | RawTableKind::Single => {
                    ctx.only(&[
                        ("sharding_column", t.sharding_column.is_some()),
                        ("databases", t.databases.is_some()),
                        ("tables", t.tables.is_some()),
                        ("database_algorithm", t.database_algorithm.is_some()),
                        ("table_algorithm", t.table_algorithm.is_some()),
                        ("bind_to", t.bind_to.is_some()),
                    ])?;
                    if t.kind == RawTableKind::Broadcast {
                        ctx.only(&[("database", t.database.is_some())])?;
                        TableKind::Broadcast
                    } else {
                        let name = t.database.as_deref().ok_or_else(|| {
                            self.invalid(
                                &ctx.path,
                                format!("single table `{}` needs `database`", t.name),
                            )
                        })?;
                        let database = *database_index.get(name).ok_or_else(|| {
                            self.invalid(
                                format!("{}.database", ctx.path),
                                format!("database `{name}` is not declared under `databases`"),
                            )
                        })?;
                        TableKind::Single { database }
                    }
                }
            };
            built[i] = Some(LogicalTable {
                name: t.name.clone(),
                kind,
                key_generator: t.key_generator.clone(),
            });
        }
        for table in built.into_iter().flatten() {
            tables.push(table);
        }

        let proxy = self.proxy_settings(&raw.proxy)?;
        let key_generators = self.key_generators(&raw.key_generators, &backend_index)?;
        for (i, table) in tables.iter().enumerate() {
            if let Some(name) = &table.key_generator {
                if !key_generators.iter().any(|g| g.name == *name) {
                    return Err(self.invalid(
                        format!("schema.tables[{i}].key_generator"),
                        format!("key generator `{name}` is not declared under `key_generators`"),
                    ));
                }
            }
        }
        let migration_state = match &raw.migration_state {
            None => 0,
            Some(m) => *backend_index.get(&m.backend).ok_or_else(|| {
                self.invalid(
                    "migration_state.backend",
                    format!("backend `{}` is not declared under `backends`", m.backend),
                )
            })?,
        };
        let (admin, log) = self.operator_settings(&raw.admin, &raw.log)?;
        let topology = Topology {
            generation: crate::topology::next_generation(),
            admin,
            log,
            key_generators,
            migration_state,
            proxy,
            listen: raw.listen,
            users,
            backends,
            databases,
            schema: raw.schema.name,
            tables,
            table_index,
            database_index,
        };
        self.check_physical_names(&topology)?;
        Ok(topology)
    }

    /// Two logical tables must never share a physical table: their rows would mix.
    fn check_physical_names(&self, topology: &Topology) -> Result<(), ConfigError> {
        let mut owner: HashMap<(DatabaseId, &str), usize> = HashMap::new();
        for (id, table) in topology.tables.iter().enumerate() {
            let claims: Vec<(DatabaseId, &str)> = match &table.kind {
                TableKind::Sharded(layout) => layout
                    .databases
                    .iter()
                    .flat_map(|db| layout.tables.iter().map(move |t| (*db, t.as_str())))
                    .collect(),
                TableKind::Broadcast => (0..topology.databases.len())
                    .map(|db| (db, table.name.as_str()))
                    .collect(),
                TableKind::Single { database } => vec![(*database, table.name.as_str())],
            };
            for (db, name) in claims {
                if let Some(other) = owner.insert((db, name), id) {
                    return Err(self.invalid(
                        format!("schema.tables[{id}]"),
                        format!(
                            "physical table `{}.{name}` belongs to both `{}` and `{}`",
                            topology.databases[db].name, topology.tables[other].name, table.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_address(address: &str) -> Result<(), String> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("`{address}` is not a `host:port` address")),
    }
}

/// Validation of one `schema.tables[i]` entry.
struct TableCtx<'a> {
    b: &'a Builder<'a>,
    path: String,
    raw: &'a RawTable,
}

impl TableCtx<'_> {
    /// Refuses keys that mean nothing for this table kind, rather than ignoring them.
    fn only(&self, forbidden: &[(&str, bool)]) -> Result<(), ConfigError> {
        for (key, present) in forbidden {
            if *present {
                return Err(self.b.invalid(
                    format!("{}.{key}", self.path),
                    format!(
                        "`{key}` does not apply to {} table `{}`",
                        self.raw.kind.as_str(),
                        self.raw.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn sharding_column(&self) -> Result<String, ConfigError> {
        match self.raw.sharding_column.as_deref() {
            Some(c) if !c.is_empty() => Ok(c.to_ascii_lowercase()),
            _ => Err(self.b.invalid(
                &self.path,
                format!(
                    "table `{}` is sharded but has no `sharding_column`",
                    self.raw.name
                ),
            )),
        }
    }

    fn required<'v, T>(&self, key: &str, value: &'v Option<T>) -> Result<&'v T, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.b.invalid(
                &self.path,
                format!("table `{}` needs `{key}`", self.raw.name),
            )
        })
    }

    fn database_list(
        &self,
        pattern_text: &str,
        database_index: &HashMap<String, DatabaseId>,
    ) -> Result<Vec<DatabaseId>, ConfigError> {
        let path = format!("{}.databases", self.path);
        let names = pattern::expand(pattern_text).map_err(|m| self.b.invalid(&path, m))?;
        names
            .iter()
            .map(|n| {
                database_index.get(n).copied().ok_or_else(|| {
                    self.b.invalid(
                        &path,
                        format!("database `{n}` is not declared under `databases`"),
                    )
                })
            })
            .collect()
    }

    fn table_names(&self) -> Result<Vec<String>, ConfigError> {
        let text = self.required("tables", &self.raw.tables)?;
        pattern::expand(text).map_err(|m| self.b.invalid(format!("{}.tables", self.path), m))
    }

    fn sharded(
        &self,
        database_index: &HashMap<String, DatabaseId>,
        id: usize,
    ) -> Result<ShardedLayout, ConfigError> {
        let sharding_column = self.sharding_column()?;
        let databases = self.database_list(
            self.required("databases", &self.raw.databases)?,
            database_index,
        )?;
        let tables = self.table_names()?;
        let database_algorithm = self.algorithm(
            "database_algorithm",
            &self.raw.database_algorithm,
            databases.len(),
            "databases",
        )?;
        let table_algorithm = self.algorithm(
            "table_algorithm",
            &self.raw.table_algorithm,
            tables.len(),
            "tables",
        )?;
        Ok(ShardedLayout {
            sharding_column,
            databases,
            tables,
            database_algorithm,
            table_algorithm,
            binding_group: id,
        })
    }

    fn binding(
        &self,
        database_index: &HashMap<String, DatabaseId>,
        table_index: &HashMap<String, usize>,
        built: &[Option<LogicalTable>],
    ) -> Result<ShardedLayout, ConfigError> {
        let bind_path = format!("{}.bind_to", self.path);
        let target_name = self.required("bind_to", &self.raw.bind_to)?;
        let target = table_index
            .get(&target_name.to_ascii_lowercase())
            .and_then(|i| built[*i].as_ref().map(|t| (*i, t)));
        let (target_id, target_layout) = match target {
            Some((
                i,
                LogicalTable {
                    kind: TableKind::Sharded(layout),
                    ..
                },
            )) => (i, layout),
            _ => {
                return Err(self.b.invalid(
                    bind_path,
                    format!("`{target_name}` is not a sharded table; bind_to must name one"),
                ))
            }
        };
        let sharding_column = self.sharding_column()?;
        let tables = self.table_names()?;
        let differs = |what: &str, path: String| {
            self.b.invalid(
                path,
                format!(
                    "binding table `{}` must be sharded exactly like `{target_name}`, but its {what} differ",
                    self.raw.name
                ),
            )
        };
        if tables.len() != target_layout.tables.len() {
            return Err(self.b.invalid(
                format!("{}.tables", self.path),
                format!(
                    "binding table `{}` has {} tables per database but `{target_name}` has {}; their layouts must be the same",
                    self.raw.name,
                    tables.len(),
                    target_layout.tables.len()
                ),
            ));
        }
        if let Some(text) = &self.raw.databases {
            if self.database_list(text, database_index)? != target_layout.databases {
                return Err(differs("databases", format!("{}.databases", self.path)));
            }
        }
        for (key, raw, own, count, unit) in [
            (
                "database_algorithm",
                &self.raw.database_algorithm,
                &target_layout.database_algorithm,
                target_layout.databases.len(),
                "databases",
            ),
            (
                "table_algorithm",
                &self.raw.table_algorithm,
                &target_layout.table_algorithm,
                tables.len(),
                "tables",
            ),
        ] {
            if raw.is_some() && self.algorithm(key, raw, count, unit)? != *own {
                return Err(differs(
                    key.replace('_', " ").as_str(),
                    format!("{}.{key}", self.path),
                ));
            }
        }
        Ok(ShardedLayout {
            sharding_column,
            databases: target_layout.databases.clone(),
            tables,
            database_algorithm: target_layout.database_algorithm.clone(),
            table_algorithm: target_layout.table_algorithm.clone(),
            binding_group: target_layout.binding_group.min(target_id),
        })
    }

    /// Converts and checks an algorithm: its shard count must equal the number of databases (or
    /// tables) it picks among, or some keys would route to a shard that does not exist.
    fn algorithm(
        &self,
        key: &str,
        raw: &Option<RawAlgorithm>,
        count: usize,
        unit: &str,
    ) -> Result<Algorithm, ConfigError> {
        let raw = self.required(key, raw)?;
        let path = format!("{}.{key}", self.path);
        let field = |name: &str, v: Option<u64>| -> Result<u64, ConfigError> {
            match v {
                Some(0) => Err(self.b.invalid(
                    format!("{path}.{name}"),
                    format!("`{name}` must be at least 1"),
                )),
                Some(v) => Ok(v),
                None => Err(self.b.invalid(
                    &path,
                    format!("a {:?} algorithm needs `{name}`", raw.kind).to_lowercase(),
                )),
            }
        };
        let unused = |name: &str, present: bool| -> Result<(), ConfigError> {
            if present {
                Err(self.b.invalid(
                    format!("{path}.{name}"),
                    format!("`{name}` does not apply to this algorithm type"),
                ))
            } else {
                Ok(())
            }
        };
        let algorithm = match raw.kind {
            AlgorithmType::Mod | AlgorithmType::HashMod => {
                unused("divisor", raw.divisor.is_some())?;
                unused("boundaries", raw.boundaries.is_some())?;
                let modulus = field("modulus", raw.modulus)?;
                if raw.kind == AlgorithmType::Mod {
                    Algorithm::Mod { modulus }
                } else {
                    Algorithm::HashMod { modulus }
                }
            }
            AlgorithmType::DivMod => {
                unused("boundaries", raw.boundaries.is_some())?;
                Algorithm::DivMod {
                    divisor: field("divisor", raw.divisor)?,
                    modulus: field("modulus", raw.modulus)?,
                }
            }
            AlgorithmType::Range => {
                unused("modulus", raw.modulus.is_some())?;
                unused("divisor", raw.divisor.is_some())?;
                let boundaries = raw.boundaries.clone().unwrap_or_default();
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(self.b.invalid(
                        format!("{path}.boundaries"),
                        "boundaries must be strictly ascending",
                    ));
                }
                Algorithm::Range { boundaries }
            }
        };
        if algorithm.shard_count() != count {
            let what = if raw.kind == AlgorithmType::Range {
                "boundaries"
            } else {
                "modulus"
            };
            return Err(self.b.invalid(
                format!("{path}.{what}"),
                format!(
                    "{key} of `{}` spreads keys over {} {unit}, but the table has {count} {unit}",
                    self.raw.name,
                    algorithm.shard_count()
                ),
            ));
        }
        Ok(algorithm)
    }
}
