//! Joins between sharded tables are shard-local only when they equate the tables' sharding
//! keys: `t_order o JOIN t_order_item i ON o.order_id = i.order_id`. This checks that every
//! sharded table of a statement is tied to the others that way.

use sqlparser::ast::{
    BinaryOperator, Expr, JoinConstraint, JoinOperator, TableFactor, TableWithJoins,
};

use super::Analysis;
use crate::collect::name_parts;
use crate::error::{Result, RouterError};

/// What a join says about how its right side relates to the left.
enum JoinLink<'a> {
    On(&'a Expr),
    /// `USING (cols)`: the right table's name or alias, and the columns.
    Using {
        right: String,
        columns: Vec<String>,
    },
    /// `NATURAL JOIN`: the right table's name or alias. It joins on every column the two
    /// sides share, so on the right table's sharding column when the left has it too.
    Natural {
        right: String,
    },
}

/// The ON expressions and USING lists of some FROM items.
fn join_constraints(from: &[TableWithJoins]) -> Vec<JoinLink<'_>> {
    let mut out = Vec::new();
    for twj in from {
        for join in &twj.joins {
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::StraightJoin(c) => c,
                _ => continue,
            };
            let right = match &join.relation {
                TableFactor::Table { name, alias, .. } => match alias {
                    Some(a) => a.name.value.clone(),
                    None => name_parts(name).pop().unwrap_or_default(),
                },
                _ => String::new(),
            };
            match constraint {
                JoinConstraint::On(expr) => out.push(JoinLink::On(expr)),
                JoinConstraint::Using(cols) if !right.is_empty() => {
                    let columns = cols.iter().filter_map(|c| name_parts(c).pop()).collect();
                    out.push(JoinLink::Using { right, columns });
                }
                JoinConstraint::Natural if !right.is_empty() => {
                    out.push(JoinLink::Natural { right })
                }
                _ => {}
            }
        }
    }
    out
}

/// The expressions that may equate sharding keys of a statement's tables: the ON clauses and
/// USING lists of its joins, and its WHERE clause.
pub(crate) fn key_links(
    a: &Analysis<'_>,
    from: &[TableWithJoins],
    selection: Option<&Expr>,
) -> Vec<Expr> {
    let joins = join_constraints(from);
    let mut links = using_as_equalities(a, &joins);
    links.extend(joins.into_iter().filter_map(|j| match j {
        JoinLink::On(e) => Some(e.clone()),
        JoinLink::Using { .. } | JoinLink::Natural { .. } => None,
    }));
    links.extend(selection.cloned());
    links
}

/// Refuses unless every ref in `sharded` is connected to the first through key equalities.
pub(crate) fn check_linked(a: &Analysis<'_>, sharded: &[usize], links: &[Expr]) -> Result<()> {
    let mut parent: Vec<usize> = (0..a.refs.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut pending: Vec<&Expr> = links.iter().collect();
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::Nested(inner) => pending.push(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                pending.push(left);
                pending.push(right);
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                if let (Some(l), Some(r)) = (a.key_ref(left), a.key_ref(right)) {
                    let (l, r) = (root(&mut parent, l), root(&mut parent, r));
                    parent[l] = r;
                }
            }
            _ => {}
        }
    }
    let first = root(&mut parent, sharded[0]);
    for &other in &sharded[1..] {
        if root(&mut parent, other) != first {
            return Err(RouterError::Unsafe(format!(
                "join of `{}` and `{}` is not on the sharding key: matching rows may be on different shards",
                a.topology.tables[a.refs[sharded[0]].table].name,
                a.topology.tables[a.refs[other].table].name
            )));
        }
    }
    Ok(())
}

/// Turns `USING (order_id)` into the equalities it means, for [`check_linked`].
fn using_as_equalities(a: &Analysis<'_>, links: &[JoinLink<'_>]) -> Vec<Expr> {
    use sqlparser::ast::Ident;
    let mut out = Vec::new();
    for link in links {
        let (right, columns) = match link {
            JoinLink::Using { right, columns } => (right, columns.clone()),
            JoinLink::Natural { right } => {
                // The right table's sharding column, which a natural join equates with the
                // left side's column of that name, if it has one.
                let key = a
                    .refs
                    .iter()
                    .find(|r| {
                        r.alias
                            .as_deref()
                            .unwrap_or(&r.written)
                            .eq_ignore_ascii_case(right)
                    })
                    .and_then(|r| a.layout(r.table))
                    .map(|layout| layout.sharding_column.clone());
                (right, key.into_iter().collect())
            }
            JoinLink::On(_) => continue,
        };
        for col in &columns {
            // The right table's key equals the same-named key of every other sharded ref.
            for r in &a.refs {
                let name = r.alias.clone().unwrap_or_else(|| r.written.clone());
                if r.depth != 0 || name.eq_ignore_ascii_case(right) {
                    continue;
                }
                out.push(Expr::BinaryOp {
                    left: Box::new(Expr::CompoundIdentifier(vec![
                        Ident::new(right.clone()),
                        Ident::new(col.clone()),
                    ])),
                    op: BinaryOperator::Eq,
                    right: Box::new(Expr::CompoundIdentifier(vec![
                        Ident::new(name),
                        Ident::new(col.clone()),
                    ])),
                });
            }
        }
    }
    out
}
