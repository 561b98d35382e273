//! Binding: a template plus this statement's values -> a [`Plan`]. This is the per-statement
//! hot path on a shape-cache hit, so it only evaluates conditions and splices text.

use std::collections::BTreeMap;

use std::ops::Range;

use shardgate_config::{ShardedLayout, TableKind, Topology};

use crate::condition::{Evaluator, KeyValue, Operand, ParamSource};
use crate::error::{Result, RouterError};
use crate::key_list::KeyListRoutes;
use crate::keys::{KeyError, KeyFill, KeySource, NoKeys};
use crate::normalize::Literal;
use crate::params::ParamValue;
use crate::plan::{
    AffectedRows, Generate, PhysicalStatement, Plan, Returning, RouteKind, StatementKind, Step,
};
use crate::render::{Renderer, Target};
use crate::targets::TargetSet;
use crate::template::{topology_id, EditKind, InsertRow, RouteTemplate, Template};

/// The values for a template's placeholders.
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    /// A text statement: its literals, taken out by the normalizer. Rendering copies each
    /// literal's original text back, so physical SQL keeps the client's exact spelling.
    Text {
        sql: &'a str,
        literals: &'a [Literal<'a>],
    },
    /// A prepared statement's parameters: physical SQL keeps `?` and lists which parameter
    /// each takes.
    Prepared(&'a [ParamValue<'a>]),
    /// A prepared statement's parameters written into its physical statements as SQL
    /// literals: they run as text (a read over several tables, whose statement text
    /// changes with the tables it reaches and would be prepared anew on each execute).
    Inline(&'a [ParamValue<'a>]),
}

impl Params<'_> {
    fn len(&self) -> usize {
        match self {
            Params::Text { literals, .. } => literals.len(),
            Params::Prepared(values) | Params::Inline(values) => values.len(),
        }
    }
}

impl ParamSource for Params<'_> {
    fn param(&self, index: usize) -> Option<&ParamValue<'_>> {
        match self {
            Params::Text { literals, .. } => literals.get(index).map(|l| &l.value),
            Params::Prepared(values) | Params::Inline(values) => values.get(index),
        }
    }
}

impl Template {
    /// Binds values and produces the plan.
    pub fn bind(&self, topology: &Topology, params: Params<'_>) -> Result<Plan> {
        self.bind_with_keys(topology, params, &mut NoKeys)
    }

    /// Binds values and produces the plan; INSERT rows that need a generated key get one
    /// from `keys`.
    pub fn bind_with_keys(
        &self,
        topology: &Topology,
        params: Params<'_>,
        keys: &mut dyn KeySource,
    ) -> Result<Plan> {
        if topology_id(topology) != self.analyzed_for {
            return Err(RouterError::StaleTemplate);
        }
        if params.len() != self.param_count {
            return Err(RouterError::ParamCount {
                expected: self.param_count,
                given: params.len(),
            });
        }
        if let Some(window) = &self.window {
            return self.bind_subquery(topology, params, window);
        }
        if let Some(join) = &self.cross_join {
            return self.bind_cross_join(topology, params, join);
        }
        if let Some(union) = &self.union {
            return self.bind_union(topology, params, union);
        }
        if let Some((kind, inner)) = &self.in_subquery {
            return self.bind_in_subquery(topology, params, *kind, inner.clone());
        }
        let plan = self.bind_routed(topology, params, keys)?;
        match &self.window_functions {
            // One physical table computes the window functions itself.
            Some(over) if !matches!(plan.step, Step::Route(_)) => {
                self.bind_window_functions(topology, params, over)
            }
            _ => Ok(plan),
        }
    }

    /// Binds a statement the route template places: its physical statements, run as one
    /// step.
    fn bind_routed(
        &self,
        topology: &Topology,
        params: Params<'_>,
        keys: &mut dyn KeySource,
    ) -> Result<Plan> {
        let mut targets = Vec::new();
        let mut generate = None;
        let mut row_order: Vec<Vec<usize>> = Vec::new();
        let route = match &self.route {
            RouteTemplate::NoTable => {
                targets.push(self.render_whole(
                    topology,
                    params,
                    Target {
                        database: None,
                        table: None,
                    },
                    false,
                ));
                RouteKind::NoTable
            }
            RouteTemplate::Single { database } => {
                let t = Target {
                    database: Some(*database),
                    table: None,
                };
                targets.push(self.render_whole(topology, params, t, false));
                RouteKind::Direct
            }
            RouteTemplate::BroadcastRead => {
                let t = Target {
                    database: Some(0),
                    table: None,
                };
                targets.push(self.render_whole(topology, params, t, false));
                RouteKind::Direct
            }
            RouteTemplate::BroadcastWrite => {
                for db in 0..topology.databases.len() {
                    let t = Target {
                        database: Some(db),
                        table: None,
                    };
                    targets.push(self.render_whole(topology, params, t, true));
                }
                RouteKind::Broadcast
            }
            RouteTemplate::Sharded {
                layout_of,
                cond,
                key_assignments,
            } => {
                let layout = sharded(topology, *layout_of)?;
                let eval = Evaluator {
                    layout,
                    params: &params,
                };
                let mut set = eval.eval(cond);
                let scatter = set.is_all() && set.count() > 1;
                if set.count() == 0 {
                    // Nothing can match: one table still answers, with an empty result of
                    // the right shape, or zero affected rows.
                    set.insert(0, 0);
                }
                if !key_assignments.is_empty() {
                    self.check_key_assignments(&eval, &set, key_assignments, topology, *layout_of)?;
                }
                if self.write_limit && set.count() > 1 {
                    return Err(RouterError::Unsafe(format!(
                        "{:?} with LIMIT on `{}` would run on {} tables and change up to LIMIT rows on each",
                        self.kind, topology.tables[*layout_of].name, set.count()
                    ).to_uppercase()));
                }
                let multi = set.count() > 1;
                let key_lists = multi.then(|| {
                    KeyListRoutes::new(
                        self.edits.iter().filter_map(|e| match &e.kind {
                            EditKind::KeyList { items } => Some(items.as_slice()),
                            _ => None,
                        }),
                        &eval,
                    )
                });
                for (db, table) in set.iter() {
                    let t = Target {
                        database: Some(layout.databases[db]),
                        table: Some(table),
                    };
                    let mut r = Renderer::new(self, topology, params, t, multi);
                    r.key_lists = key_lists.as_ref().map(|k| (k, (db, table)));
                    targets.push(self.render_all(r, multi));
                }
                if scatter {
                    RouteKind::Scatter
                } else {
                    RouteKind::Direct
                }
            }
            RouteTemplate::Insert {
                layout_of,
                rows,
                key_assignments,
            } => {
                let layout = sharded(topology, *layout_of)?;
                let eval = Evaluator {
                    layout,
                    params: &params,
                };
                let column = &layout.sharding_column;
                let generated = generate_keys(
                    rows,
                    &eval,
                    topology.tables[*layout_of].key_generator.as_deref(),
                    keys,
                )?;
                let mut groups: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
                for (n, row) in rows.iter().enumerate() {
                    let pair = match generated[n] {
                        Some(id) => eval
                            .locate(KeyValue::Int(i128::from(id)), true)
                            .ok_or_else(|| {
                                RouterError::BadShardKey(format!(
                                    "generated key {id} of row {} does not route",
                                    n + 1
                                ))
                            })?,
                        None => locate_row(
                            &eval,
                            &row.key,
                            n,
                            column,
                            &topology.tables[*layout_of].name,
                        )?,
                    };
                    groups.entry(pair).or_default().push(n);
                }
                let ids: Vec<i64> = generated.iter().flatten().copied().collect();
                if let (false, Some(generator)) = (
                    ids.is_empty(),
                    topology.tables[*layout_of].key_generator.as_deref(),
                ) {
                    generate = Some(Generate {
                        generator: generator.to_string(),
                        column: column.clone(),
                        keys: ids,
                    });
                }
                row_order = groups.values().cloned().collect();
                let ranges: Vec<Option<Range<usize>>> =
                    rows.iter().map(|r| r.range.clone()).collect();
                for (&(db, table), members) in &groups {
                    if !key_assignments.is_empty() {
                        let mut one = TargetSet::empty(layout);
                        one.insert(db, table);
                        self.check_key_assignments(
                            &eval,
                            &one,
                            key_assignments,
                            topology,
                            *layout_of,
                        )?;
                    }
                    let t = Target {
                        database: Some(layout.databases[db]),
                        table: Some(table),
                    };
                    targets.push(if groups.len() == 1 {
                        self.render_whole_with(topology, params, t, false, &generated)
                    } else {
                        self.render_rows(topology, params, t, &ranges, members, &generated)
                    });
                }
                RouteKind::Direct
            }
            RouteTemplate::Ddl { table } => {
                match &topology.tables[*table].kind {
                    TableKind::Sharded(layout) => {
                        for (db, t) in TargetSet::all(layout).iter() {
                            let t = Target {
                                database: Some(layout.databases[db]),
                                table: Some(t),
                            };
                            targets.push(self.render_whole(topology, params, t, true));
                        }
                    }
                    TableKind::Broadcast => {
                        for db in 0..topology.databases.len() {
                            targets.push(self.render_whole(
                                topology,
                                params,
                                Target {
                                    database: Some(db),
                                    table: None,
                                },
                                true,
                            ));
                        }
                    }
                    TableKind::Single { database } => {
                        let t = Target {
                            database: Some(*database),
                            table: None,
                        };
                        targets.push(self.render_whole(topology, params, t, false));
                    }
                }
                if targets.len() > 1 {
                    RouteKind::Scatter
                } else {
                    RouteKind::Direct
                }
            }
        };
        let broadcast = matches!(self.route, RouteTemplate::BroadcastWrite)
            || (self.kind == StatementKind::Ddl
                && matches!(self.route, RouteTemplate::Ddl { table } if matches!(topology.tables[table].kind, TableKind::Broadcast)));
        let affected = if broadcast {
            AffectedRows::OneCopy
        } else {
            AffectedRows::Sum
        };
        let mut step = Step::new(self.kind, targets, || self.select_merge(&params), affected);
        if let (Step::SendToAll(all), true) = (&mut step, self.returning) {
            all.returning = Some(Returning { row_order });
        }
        Ok(Plan {
            kind: self.kind,
            route,
            step,
            generate,
            // Only writes need them (a migration refuses writes); reads skip the allocation.
            tables: if self.kind == StatementKind::Select {
                Vec::new()
            } else {
                let mut tables: Vec<usize> = self.refs.iter().map(|r| r.table).collect();
                tables.sort_unstable();
                tables.dedup();
                tables
            },
        })
    }

    /// The statement as it runs on its first physical table, with its `?` kept: what a
    /// backend prepares to describe the statement's parameters and columns to a client.
    pub fn representative(&self, topology: &Topology) -> Result<PhysicalStatement> {
        if topology_id(topology) != self.analyzed_for {
            return Err(RouterError::StaleTemplate);
        }
        let first_of = |table: usize| -> Result<Target> {
            Ok(match &topology.tables[table].kind {
                TableKind::Sharded(layout) => Target {
                    database: Some(layout.databases[0]),
                    table: Some(0),
                },
                TableKind::Broadcast => Target {
                    database: Some(0),
                    table: None,
                },
                TableKind::Single { database } => Target {
                    database: Some(*database),
                    table: None,
                },
            })
        };
        let target = match &self.route {
            // A subquery over a sharded table that runs first: the statement as it would
            // run on the first table, subquery and all, describes its columns.
            RouteTemplate::NoTable if self.in_subquery.is_some() => {
                match self
                    .refs
                    .iter()
                    .find(|r| matches!(topology.tables[r.table].kind, TableKind::Sharded(_)))
                {
                    Some(r) => first_of(r.table)?,
                    None => Target {
                        database: None,
                        table: None,
                    },
                }
            }
            RouteTemplate::NoTable => Target {
                database: None,
                table: None,
            },
            RouteTemplate::Single { database } => Target {
                database: Some(*database),
                table: None,
            },
            RouteTemplate::BroadcastRead | RouteTemplate::BroadcastWrite => Target {
                database: Some(0),
                table: None,
            },
            RouteTemplate::Sharded { layout_of, .. } | RouteTemplate::Insert { layout_of, .. } => {
                first_of(*layout_of)?
            }
            RouteTemplate::Ddl { table } => first_of(*table)?,
        };
        // Rows that leave the generated key out get a stand-in value, so the backend that
        // describes the statement counts as many values as columns (1136 otherwise).
        let stand_in: Vec<Option<i64>> = match &self.route {
            RouteTemplate::Insert { rows, .. } => rows
                .iter()
                .map(|row| matches!(row.fill, KeyFill::Append).then_some(0))
                .collect(),
            _ => Vec::new(),
        };
        Ok(self.render_whole_with(topology, Params::Prepared(&[]), target, false, &stand_in))
    }

    /// An UPDATE or ON DUPLICATE KEY UPDATE may set the sharding key only to a value that
    /// stays on the row's one target: otherwise the row would sit where no lookup finds it.
    fn check_key_assignments(
        &self,
        eval: &Evaluator<'_>,
        targets: &TargetSet,
        assignments: &[Operand],
        topology: &Topology,
        table: usize,
    ) -> Result<()> {
        let layout = eval.layout;
        for op in assignments {
            let key = op.resolve(eval.params);
            let stays = match eval.locate(key, true) {
                Some((db, t)) => targets.count() == 1 && targets.iter().next() == Some((db, t)),
                None => false,
            };
            if !stays {
                return Err(RouterError::ShardKeyUpdate(format!(
                    "changing sharding column `{}` of `{}` would move rows to another shard; \
                     only a value that keeps each row on its table is allowed (delete and re-insert the row instead)",
                    layout.sharding_column, topology.tables[table].name
                )));
            }
        }
        Ok(())
    }

    fn render_whole(
        &self,
        topology: &Topology,
        params: Params<'_>,
        target: Target,
        multi: bool,
    ) -> PhysicalStatement {
        self.render_whole_with(topology, params, target, multi, &[])
    }

    /// [`Self::render_whole`] with the generated keys of INSERT rows.
    fn render_whole_with(
        &self,
        topology: &Topology,
        params: Params<'_>,
        target: Target,
        multi: bool,
        generated: &[Option<i64>],
    ) -> PhysicalStatement {
        let mut r = Renderer::new(self, topology, params, target, multi);
        r.generated = generated;
        self.render_all(r, multi)
    }

    /// The whole text through `r`; a HAVING is the merge's when several tables answer.
    pub(crate) fn render_all(&self, mut r: Renderer<'_>, multi: bool) -> PhysicalStatement {
        match (&self.merge.having_range, multi) {
            (Some(having), true) => {
                r.range(0..having.start);
                r.range(having.end..self.text.len());
            }
            _ => r.range(0..self.text.len()),
        }
        r.finish()
    }

    /// An INSERT with only some of its VALUES rows, in their original order.
    fn render_rows(
        &self,
        topology: &Topology,
        params: Params<'_>,
        target: Target,
        ranges: &[Option<Range<usize>>],
        members: &[usize],
        generated: &[Option<i64>],
    ) -> PhysicalStatement {
        let first = ranges.first().cloned().flatten().map_or(0, |r| r.start);
        let last = ranges
            .last()
            .cloned()
            .flatten()
            .map_or(self.text.len(), |r| r.end);
        let mut r = Renderer::new(self, topology, params, target, false);
        r.generated = generated;
        r.range(0..first);
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                r.out.push_str(", ");
            }
            if let Some(row) = &ranges[*m] {
                r.range(row.clone());
            }
        }
        r.range(last..self.text.len());
        r.finish()
    }
}

/// The layout of a table analysis found sharded. A template is only bound against the topology
/// it was analyzed with, so anything else is a caller's mix-up, refused rather than guessed.
fn sharded(topology: &Topology, table: usize) -> Result<&ShardedLayout> {
    match topology.tables.get(table).map(|t| &t.kind) {
        Some(TableKind::Sharded(layout)) => Ok(layout),
        _ => Err(RouterError::StaleTemplate),
    }
}

/// Generated keys for the rows that need one (a missing key, or NULL or 0), in row order,
/// from one request to `keys`.
fn generate_keys(
    rows: &[InsertRow],
    eval: &Evaluator<'_>,
    generator: Option<&str>,
    keys: &mut dyn KeySource,
) -> Result<Vec<Option<i64>>> {
    let needs: Vec<bool> = rows
        .iter()
        .map(|row| match row.fill {
            KeyFill::Given => false,
            KeyFill::Append => true,
            KeyFill::WhenNullOrZero => matches!(
                row.key.resolve(eval.params),
                KeyValue::Null | KeyValue::Int(0)
            ),
        })
        .collect();
    let count = needs.iter().filter(|n| **n).count();
    let mut generated = vec![None; rows.len()];
    if count == 0 {
        return Ok(generated);
    }
    let Some(generator) = generator else {
        return Ok(generated);
    };
    let ids = keys.next_ids(generator, count)?;
    if ids.len() != count {
        return Err(RouterError::Keys(KeyError::Failed {
            generator: generator.to_string(),
            message: format!("gave {} ids for {count} rows", ids.len()),
        }));
    }
    let mut ids = ids.into_iter();
    for (slot, _) in generated.iter_mut().zip(&needs).filter(|(_, n)| **n) {
        *slot = ids.next();
    }
    Ok(generated)
}

fn locate_row(
    eval: &Evaluator<'_>,
    key: &Operand,
    n: usize,
    column: &str,
    table: &str,
) -> Result<(usize, usize)> {
    let value = key.resolve(eval.params);
    let what = match value {
        KeyValue::Null => "NULL",
        KeyValue::Other => "not a value the router can route (give an integer or string literal)",
        _ => "",
    };
    eval.locate(value, true).ok_or_else(|| {
        RouterError::BadShardKey(format!(
            "row {} of the INSERT into `{table}`: sharding column `{column}` is {}",
            n + 1,
            if what.is_empty() {
                "not an integer"
            } else {
                what
            }
        ))
    })
}

pub(crate) fn int_of(op: &Operand, params: &Params<'_>) -> Option<i128> {
    match op.resolve(params) {
        KeyValue::Int(v) => Some(v),
        _ => None,
    }
}
