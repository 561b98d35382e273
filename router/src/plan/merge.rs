//! The merge of a SELECT that ran on several physical tables: which operators run over the
//! shard results (see [`SelectMerge::operators`]) and what each needs: sort keys, group
//! keys, aggregates, HAVING, projections, DISTINCT, LIMIT, and the columns the shard
//! statements return for the merge only.

/// Sort direction and column of an ORDER BY key, as the merge must apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Where the key is in the shard result: a select-list position (0-based) when the key is a
    /// selected column, else `None` and the merge must add it as a derived column.
    pub column: Option<usize>,
    /// The key's SQL text.
    pub expr: String,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// BIT_AND, BIT_OR, BIT_XOR: each shard's 64-bit result folded with the same
    /// operation (their empty-set values, all ones and zero, are the operations' identities).
    BitAnd,
    BitOr,
    BitXor,
    /// GROUP_CONCAT: computed by the merge from every shard's values (see
    /// [`GroupConcat`]).
    GroupConcat,
    /// VAR_POP (VARIANCE), VAR_SAMP, STDDEV_POP (STD, STDDEV) and STDDEV_SAMP: computed by
    /// the merge from each shard's COUNT, SUM and sum of squares (see
    /// [`Derived::VarianceParts`]).
    VarPop,
    VarSamp,
    StdPop,
    StdSamp,
}

impl AggregateFunction {
    /// Whether it is one of the variance family, which the merge computes from
    /// [`Derived::VarianceParts`].
    pub fn is_variance(self) -> bool {
        matches!(
            self,
            AggregateFunction::VarPop
                | AggregateFunction::VarSamp
                | AggregateFunction::StdPop
                | AggregateFunction::StdSamp
        )
    }
}

/// A GROUP_CONCAT the merge computes, at select-list position `column`, from the values
/// and sort keys the shards return in [`Derived::GroupConcatParts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConcat {
    pub column: usize,
    pub separator: Vec<u8>,
    /// One per ORDER BY key: whether it sorts descending.
    pub descending: Vec<bool>,
    pub distinct: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub function: AggregateFunction,
    /// Select-list position (0-based).
    pub column: usize,
    pub distinct: bool,
}

/// How to combine the results of a SELECT that ran on several targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectMerge {
    pub order_by: Vec<SortKey>,
    /// The logical statement's row count limit and offset; the shard statements carry
    /// `LIMIT offset + limit` instead.
    pub limit: Option<u64>,
    pub offset: u64,
    /// GROUP BY expressions as SQL text.
    pub group_by: Vec<String>,
    /// Where each GROUP BY expression is in the select list (0-based), when it is selected.
    pub group_by_columns: Vec<Option<usize>>,
    pub aggregates: Vec<Aggregate>,
    /// The GROUP_CONCATs among the aggregates.
    pub group_concats: Vec<GroupConcat>,
    /// Select items the merge computes from the group's folded values.
    pub projections: Vec<crate::merge_expr::Projection>,
    pub distinct: bool,
    /// A HAVING clause to evaluate after grouping, as written.
    pub having: Option<String>,
    /// The same, in the form the merge evaluates (`None` when it has no such form).
    pub having_filter: Option<HavingFilter>,
    /// Columns the shard statements carry after the client's own, for the merge only (AVG's
    /// SUM and COUNT), hidden from the client.
    pub derived: Vec<Derived>,
    /// Why the merge cannot be done, found while planning it.
    pub unsupported: Option<String>,
    /// An `ORDER BY` that, appended to a per-server `(...) UNION ALL (...)` statement,
    /// returns its rows in the order the merge consumes them, so the merge can stream: the
    /// query's sort keys, or its group keys when groups can be folded as they pass. `None`
    /// when the merge buffers instead.
    pub shard_order: Option<String>,
    /// The result's column names are distinct, so one database's statements can be joined
    /// into one `(...) UNION ALL (...)`; a UNION refuses two columns of one name (1060).
    pub union_safe: bool,
}

impl SelectMerge {
    /// Whether each shard statement's own ORDER BY sorts its rows as the merge's shard order
    /// does: plain rows merged by the query's sort keys.
    pub fn sorted_by_statements(&self) -> bool {
        !self.grouped() && !self.distinct && !self.order_by.is_empty()
    }

    /// The most rows the merge reads from one physical statement that holds several
    /// tables' rows, sorted: OFFSET + LIMIT of plain rows merged by the query's sort keys
    /// (grouped rows are never cut: a group's rows may come from several tables).
    pub fn statement_limit(&self) -> Option<u64> {
        let limit = self.limit?;
        self.sorted_by_statements()
            .then(|| limit.saturating_add(self.offset))
    }

    /// Whether shard rows are partial groups the merge folds.
    pub fn grouped(&self) -> bool {
        !self.group_by.is_empty() || !self.aggregates.is_empty() || !self.projections.is_empty()
    }

    /// How many of a shard row's columns the client sees, given the shard's column count.
    pub fn visible(&self, columns: usize) -> usize {
        columns.saturating_sub(self.derived.iter().map(|d| d.width()).sum())
    }

    /// Where derived column `wanted` is in a shard row whose client columns are `visible`.
    pub fn derived_at(&self, visible: usize, wanted: Derived) -> Option<usize> {
        let mut at = visible;
        for d in &self.derived {
            if *d == wanted {
                return Some(at);
            }
            at += d.width();
        }
        None
    }

    /// The shard-row column of GROUP BY expression `key`: selected, or derived.
    pub fn group_column(&self, key: usize, visible: usize) -> Option<usize> {
        self.group_by_columns
            .get(key)
            .copied()
            .flatten()
            .or_else(|| self.derived_at(visible, Derived::GroupKey { key }))
    }

    /// The shard-row column of ORDER BY key number `key`: selected, a derived sort key, or
    /// (in a grouped query) a GROUP BY expression that is not selected.
    pub fn sort_column(&self, key: usize, visible: usize) -> Option<usize> {
        let sort = self.order_by.get(key)?;
        sort.column
            .or_else(|| self.derived_at(visible, Derived::SortKey { key }))
            .or_else(|| {
                let group = self.group_by.iter().position(|g| *g == sort.expr)?;
                self.derived_at(visible, Derived::GroupKey { key: group })
            })
    }
}

/// A HAVING clause the merge evaluates on merged groups: comparisons between selected
/// columns, aggregates and constants, combined with AND / OR / NOT, in SQL's three-valued
/// logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HavingFilter {
    And(Box<HavingFilter>, Box<HavingFilter>),
    Or(Box<HavingFilter>, Box<HavingFilter>),
    Not(Box<HavingFilter>),
    /// `left OP right`; a NULL on either side makes the comparison unknown.
    Compare {
        left: HavingOperand,
        op: CompareOp,
        right: HavingOperand,
    },
    IsNull {
        operand: HavingOperand,
        negated: bool,
    },
}

/// One side of a HAVING comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HavingOperand {
    /// A selected column (0-based select-list position).
    Column(usize),
    /// An aggregate the client did not select: [`Derived::HavingAggregate`] number `index`.
    Aggregate(usize),
    /// A constant's text; `None` is NULL.
    Const(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// A column added to the shard statements for the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// `SUM(x)` then `COUNT(x)` for the AVG(x) at this select-list position.
    AvgParts { avg: usize },
    /// The value of ORDER BY key number `key`, which the client did not select.
    SortKey { key: usize },
    /// GROUP BY expression number `key`, which the client did not select.
    GroupKey { key: usize },
    /// The argument of the DISTINCT aggregate at select-list position `aggregate`. The shard
    /// statements also group by it, so each returns every distinct value once per group and
    /// the merge can count, add or average the values that are distinct over all shards.
    DistinctArg { aggregate: usize },
    /// An aggregate that HAVING names and the client did not select, number `index` in
    /// HAVING's order.
    HavingAggregate {
        index: usize,
        function: AggregateFunction,
        distinct: bool,
    },
    /// The argument of HAVING's aggregate of DISTINCT values number `index` (see
    /// [`Derived::DistinctArg`]).
    HavingDistinctArg { index: usize },
    /// For the GROUP_CONCAT at select-list position `aggregate`: the group's values with
    /// their sort keys as a JSON array, then `@@group_concat_max_len`.
    GroupConcatParts { aggregate: usize },
    /// For the variance or standard deviation at select-list position `aggregate`:
    /// `COUNT(x)`, `SUM(x)` and `SUM(x * (x + 0.0))`, exact for integer and DECIMAL
    /// arguments (the `+ 0.0` makes the product a DECIMAL, which cannot overflow as a
    /// BIGINT product would).
    VarianceParts { aggregate: usize },
}

impl Derived {
    /// How many columns it adds.
    pub fn width(self) -> usize {
        match self {
            Derived::VarianceParts { .. } => 3,
            Derived::AvgParts { .. } | Derived::GroupConcatParts { .. } => 2,
            Derived::SortKey { .. }
            | Derived::GroupKey { .. }
            | Derived::DistinctArg { .. }
            | Derived::HavingAggregate { .. }
            | Derived::HavingDistinctArg { .. } => 1,
        }
    }
}

/// Rows the proxy sorts itself (a join's across shards, window functions'): the result's
/// columns, then the sort keys it does not show; and the merge that sorts them, applies
/// LIMIT and hides those keys.
pub fn proxy_sorted<T: Copy + PartialEq>(
    output: &[T],
    order_by: &[(T, bool)],
    limit: Option<u64>,
    offset: u64,
) -> (Vec<T>, SelectMerge) {
    let mut columns = output.to_vec();
    let mut keys = Vec::with_capacity(order_by.len());
    let mut derived = Vec::new();
    for (key, &(column, descending)) in order_by.iter().enumerate() {
        let at = match columns[..output.len()].iter().position(|c| *c == column) {
            Some(at) => at,
            None => {
                columns.push(column);
                derived.push(Derived::SortKey { key });
                columns.len() - 1
            }
        };
        keys.push(SortKey {
            column: Some(at),
            expr: format!("column {}", at + 1),
            descending,
        });
    }
    let merge = SelectMerge {
        order_by: keys,
        limit,
        offset,
        derived,
        ..SelectMerge::default()
    };
    (columns, merge)
}
