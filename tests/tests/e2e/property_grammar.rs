//! The grammar of the property test (`distributed_properties`): the shapes of random
//! statements, the strategies that draw them, and their SQL.

use proptest::prelude::*;

/// A window function of a [`Shape::Window`]: its kind, PARTITION BY and ORDER BY.
pub(super) type WindowOf = (u8, Option<&'static str>, Vec<(&'static str, bool)>);

#[derive(Debug, Clone)]
pub(super) enum Shape {
    /// Plain rows: columns, ORDER BY (order_id always last, so the order is total), LIMIT.
    Rows {
        columns: Vec<&'static str>,
        order: Vec<(&'static str, bool)>,
        limit: Option<(u32, u32)>,
    },
    /// DISTINCT over one column, ordered by it.
    Distinct {
        column: &'static str,
        descending: bool,
    },
    /// Aggregates, grouped by one column (or not at all), ordered by the group key (or in
    /// GROUP BY's own order), with a HAVING.
    Grouped {
        key: Option<&'static str>,
        aggregates: Vec<String>,
        descending: Option<bool>,
        /// How the order is written: 0 the key's name, 1 its position (a literal in ORDER
        /// BY), 2 the first aggregate (with the literals it holds), then the key.
        order_by: u8,
        having: Option<String>,
        limit: Option<u32>,
    },
    /// A derived table with LIMIT (rows in a total order, a window of them) and a query
    /// around it: its rows in another order, aggregates over them, or groups of them.
    Derived {
        order: Vec<(&'static str, bool)>,
        limit: (u32, u32),
        outer: u8,
        /// Written as a CTE (`WITH d AS (...) SELECT ... FROM d`).
        cte: bool,
    },
    /// A UNION (ALL) of branches of two columns (an integer, a status) over the sharded
    /// table, each with its own condition: plain rows, an INT beside the BIGINT key,
    /// groups, a limited window in parentheses, a lone aggregate row; ordered by both
    /// columns (statuses never differ in case only, so the order is total but for identical
    /// rows), with a LIMIT.
    Union {
        branches: Vec<(u8, Option<String>)>,
        all: bool,
        descending: bool,
        limit: Option<(u32, u32)>,
    },
    /// The table joined with itself on a column that is not its sharding key, which no
    /// shard can answer alone: INNER or LEFT, a condition on the right side (in ON for a
    /// LEFT JOIN), ordered by both sides' keys (a total order), with a LIMIT.
    Join {
        left: bool,
        key: &'static str,
        right: Option<String>,
        limit: Option<(u32, u32)>,
    },
    /// Window functions over the sharded table (one or two, each with its own PARTITION BY
    /// and ORDER BY; ROW_NUMBER's order made total by order_id), over rows or over groups
    /// by user_id, ordered by order_id (or the group key), with a LIMIT.
    Window {
        functions: Vec<WindowOf>,
        grouped: bool,
        limit: Option<(u32, u32)>,
    },
}

/// A window function of the grammar: `kind` picks the function, over rows or over groups
/// (by user_id, whose aggregates it then reads); the `n`th of the statement's.
fn window_function(
    n: usize,
    kind: u8,
    partition: Option<&str>,
    order: &[(&str, bool)],
    grouped: bool,
) -> String {
    let column = |c: &str| {
        if grouped {
            match c {
                "user_id" => "user_id".to_string(),
                "status" => "MAX(status)".to_string(),
                "amount" => "SUM(amount)".to_string(),
                _ => "MIN(created_at)".to_string(),
            }
        } else {
            c.to_string()
        }
    };
    let mut keys: Vec<String> = order
        .iter()
        .map(|(c, d)| format!("{}{}", column(c), if *d { " DESC" } else { "" }))
        .collect();
    if (kind == 1 || kind == 2) && keys.is_empty() {
        // MariaDB wants an order for RANK and DENSE_RANK (4018 without).
        keys.push(column("amount"));
    }
    if kind == 0 {
        // ROW_NUMBER numbers ties in any order: a total order makes it one answer.
        keys.push(if grouped { "user_id" } else { "order_id" }.to_string());
    }
    let mut spec = Vec::new();
    if let Some(p) = partition {
        spec.push(format!("PARTITION BY {}", column(p)));
    }
    if !keys.is_empty() {
        spec.push(format!("ORDER BY {}", keys.join(", ")));
    }
    let argument = |c: &str| {
        if grouped {
            format!("COUNT({c})")
        } else {
            c.to_string()
        }
    };
    let function = match kind {
        0 => "ROW_NUMBER()".to_string(),
        1 => "RANK()".to_string(),
        2 => "DENSE_RANK()".to_string(),
        3 => "COUNT(*)".to_string(),
        4 => format!(
            "SUM({})",
            if grouped {
                "SUM(amount)".into()
            } else {
                argument("amount")
            }
        ),
        5 => format!(
            "AVG({})",
            if grouped {
                "SUM(amount)".into()
            } else {
                argument("amount")
            }
        ),
        6 => format!(
            "MIN({})",
            if grouped {
                "MIN(created_at)".into()
            } else {
                argument("created_at")
            }
        ),
        7 => format!(
            "MAX({})",
            if grouped {
                "MAX(status)".into()
            } else {
                argument("status")
            }
        ),
        // Two of these in one statement have one shape but different literals.
        8 => format!(
            "SUM({} * {})",
            if grouped {
                "SUM(amount)".into()
            } else {
                argument("amount")
            },
            n + 2
        ),
        _ => format!("COUNT({})", argument("user_id")),
    };
    format!("{function} OVER ({})", spec.join(" "))
}

pub(super) fn shape() -> impl Strategy<Value = Shape> {
    let column = prop::sample::select(vec!["user_id", "status", "amount", "created_at"]);
    let rows = (
        prop::collection::vec(column.clone(), 1..4),
        prop::collection::vec((column.clone(), any::<bool>()), 0..3),
        prop::option::of((0u32..40, 1u32..60)),
    )
        .prop_map(|(columns, order, limit)| Shape::Rows {
            columns,
            order,
            limit,
        });
    let distinct = (column.clone(), any::<bool>())
        .prop_map(|(column, descending)| Shape::Distinct { column, descending });
    let plain = prop::sample::select(vec![
        "COUNT(*)",
        "COUNT(amount)",
        "SUM(amount)",
        "MIN(amount)",
        "MAX(created_at)",
        "AVG(amount)",
        "MIN(status)",
        "SUM(user_id)",
        "COUNT(DISTINCT user_id)",
        "COUNT(DISTINCT status)",
        "SUM(DISTINCT user_id)",
        "AVG(DISTINCT amount)",
        "MAX(amount) - MIN(amount)",
        "SUM(amount) / COUNT(*)",
        "BIT_AND(user_id)",
        "BIT_OR(user_id)",
        "BIT_XOR(order_id)",
        "STD(amount)",
        "VAR_SAMP(amount)",
        "VARIANCE(user_id)",
        "STDDEV_SAMP(user_id)",
        "GROUP_CONCAT(status ORDER BY order_id)",
        "GROUP_CONCAT(DISTINCT status ORDER BY status DESC)",
        "GROUP_CONCAT(user_id, ':', amount, '@', created_at ORDER BY amount DESC, order_id SEPARATOR '; ')",
    ])
    .prop_map(String::from);
    // Literals inside aggregates and in expressions over them: one shape, many values.
    let with_literals = prop_oneof![
        (0i64..13).prop_map(|n| format!("COUNT(IF(user_id > {n}, 1, NULL))")),
        // Expressions the merge evaluates over the folded aggregates.
        (0i64..40).prop_map(|n| format!(
            "CASE WHEN COUNT(*) > {n} THEN 'many' WHEN COUNT(*) > 0 THEN 'some' ELSE 'none' END"
        )),
        (1i64..9).prop_map(|n| format!("FLOOR(AVG(amount) / {n})")),
        (1i64..9).prop_map(|n| format!("CEILING(SUM(amount) / {n})")),
        (0i64..13).prop_map(|n| format!("CASE MAX(user_id) WHEN {n} THEN 'top' ELSE 'other' END")),
        (0i64..13).prop_map(|n| format!("SUM(IF(user_id = {n}, amount, 0))")),
        (0i64..20).prop_map(|n| format!("COUNT(*) + {n}")),
        (0i64..1000).prop_map(|n| format!("IFNULL(SUM(amount), {n})")),
        (0i64..4).prop_map(|d| format!("ROUND(AVG(amount), {d})")),
        (0i64..40).prop_map(|n| format!("COUNT(*) > {n}")),
        (1i64..5).prop_map(|n| format!("COALESCE(MIN(user_id), -{n}) * {n}")),
        // String functions and CASTs over the folded aggregates.
        (0i64..20).prop_map(|n| format!("CONCAT(COUNT(*), '-{n}', MAX(status))")),
        (0i64..4).prop_map(|d| format!("CAST(AVG(amount) AS DECIMAL(14,{d}))")),
        (0i64..3).prop_map(|n| format!(
            "CONCAT_WS('/', MIN(status), MAX(created_at), SUM(amount) + {n})"
        )),
        (0i64..3).prop_map(|n| format!("LENGTH(SUM(amount)) + {n}")),
        (0i64..3).prop_map(|n| format!("CAST(SUM(amount) * {n} AS SIGNED)")),
        (0i64..3).prop_map(|n| format!("UPPER(IFNULL(MIN(status), 'none{n}'))")),
        // GROUP_CONCAT, its order total (order_id is unique) so the answer is exact.
        (0i64..13).prop_map(|n| format!(
            "GROUP_CONCAT(IF(user_id > {n}, status, NULL) ORDER BY order_id SEPARATOR '|{n}|')"
        )),
    ];
    let aggregates = prop::collection::vec(prop_oneof![plain, with_literals], 1..4);
    let having = prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "COUNT(*) > 20",
            "SUM(amount) >= 9000",
            "MAX(created_at) IS NOT NULL AND MIN(amount) < 100",
            "MIN(user_id) IN (1, 2, 3) OR COUNT(*) BETWEEN 30 AND 40",
            "NOT COUNT(DISTINCT user_id) > 5",
        ])
        .prop_map(String::from),
        (0i64..13).prop_map(|n| format!("COUNT(IF(user_id > {n}, 1, NULL)) > 3")),
        (0i64..40).prop_map(|n| format!("COUNT(*) >= {n}")),
    ]);
    let grouped = (
        prop::option::of(prop::sample::select(vec!["user_id", "status"])),
        aggregates,
        prop::option::of(any::<bool>()),
        0u8..3,
        having,
        prop::option::of(1u32..10),
    )
        .prop_map(
            |(key, aggregates, descending, order_by, having, limit)| Shape::Grouped {
                key,
                aggregates,
                descending,
                order_by,
                having,
                limit,
            },
        );
    let derived = (
        prop::collection::vec((column.clone(), any::<bool>()), 0..3),
        (0u32..40, 0u32..60),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(order, limit, outer, cte)| Shape::Derived {
            order,
            limit,
            outer,
            cte,
        });
    let union = (
        prop::collection::vec((0u8..5, filter()), 2..4),
        any::<bool>(),
        any::<bool>(),
        prop::option::of((0u32..20, 0u32..40)),
    )
        .prop_map(|(branches, all, descending, limit)| Shape::Union {
            branches,
            all,
            descending,
            limit,
        });
    let join = (
        any::<bool>(),
        prop::sample::select(vec!["user_id", "amount", "created_at"]),
        prop::option::of(prop_oneof![
            Just("b.status = 'paid'".to_string()),
            Just("b.amount < 200".to_string()),
            Just("b.created_at IS NOT NULL".to_string()),
        ]),
        prop::option::of((0u32..20, 1u32..60)),
    )
        .prop_map(|(left, key, right, limit)| Shape::Join {
            left,
            key,
            right,
            // A join on user_id pairs many rows: always limited.
            limit: if key == "user_id" {
                Some(limit.unwrap_or((0, 50)))
            } else {
                limit
            },
        });
    let window = (
        prop::collection::vec(
            (
                0u8..10,
                prop::option::of(prop::sample::select(vec!["user_id", "status"])),
                prop::collection::vec((column.clone(), any::<bool>()), 0..3),
            ),
            1..3,
        ),
        any::<bool>(),
        prop::option::of((0u32..30, 1u32..60)),
    )
        .prop_map(|(functions, grouped, limit)| Shape::Window {
            functions,
            grouped,
            limit,
        });
    prop_oneof![rows, distinct, grouped, derived, union, join, window]
}

/// A WHERE condition with a subquery over the sharded table, which runs first (in both
/// protocols).
pub(super) fn subquery_filter() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        (0i64..13).prop_map(|u| format!(
            "order_id IN (SELECT order_id FROM t_order WHERE user_id = {u})"
        )),
        (0i64..500).prop_map(|a| format!(
            "user_id NOT IN (SELECT user_id FROM t_order WHERE amount < {a})"
        )),
        (0i64..13).prop_map(|u| format!(
            "amount > (SELECT AVG(amount) FROM t_order WHERE user_id = {u})"
        )),
        (0i64..13).prop_map(|u| format!(
            "EXISTS (SELECT 1 FROM t_order WHERE user_id = {u} AND status = 'lost')"
        )),
    ])
}

pub(super) fn filter() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        (0i64..13).prop_map(|u| format!("user_id = {u}")),
        (0i64..13, 0i64..13).prop_map(|(a, b)| format!(
            "user_id BETWEEN {} AND {}",
            a.min(b),
            a.max(b)
        )),
        (-5000i64..5000, 1i64..3000)
            .prop_map(|(lo, w)| format!("order_id BETWEEN {lo} AND {}", lo + w)),
        Just("status IS NULL".to_string()),
        Just("amount > 100".to_string()),
    ])
}

pub(super) fn sql(shape: &Shape, filter: &Option<String>) -> String {
    let r#where = filter
        .as_ref()
        .map(|f| format!(" WHERE {f}"))
        .unwrap_or_default();
    match shape {
        Shape::Rows {
            columns,
            order,
            limit,
        } => {
            // Only selected columns can order a merge (ORDER BY others is refused, tested
            // elsewhere).
            let mut keys: Vec<String> = order
                .iter()
                .filter(|(c, _)| columns.contains(c))
                .map(|(c, d)| format!("{c}{}", if *d { " DESC" } else { "" }))
                .collect();
            keys.push("order_id".into());
            let mut all = vec!["order_id"];
            all.extend(columns.iter().copied());
            let limit = limit
                .map(|(o, n)| format!(" LIMIT {o}, {n}"))
                .unwrap_or_default();
            format!(
                "SELECT {} FROM t_order{} ORDER BY {}{limit}",
                all.join(", "),
                r#where,
                keys.join(", ")
            )
        }
        Shape::Distinct { column, descending } => {
            // Case-insensitively equal statuses would make DISTINCT's pick arbitrary; the data
            // has none, so the answer is exact.
            format!(
                "SELECT DISTINCT {column} FROM t_order{} ORDER BY {column}{}",
                r#where,
                if *descending { " DESC" } else { "" }
            )
        }
        Shape::Derived {
            order,
            limit: (offset, count),
            outer,
            cte,
        } => {
            let mut keys: Vec<String> = order
                .iter()
                .map(|(c, d)| format!("{c}{}", if *d { " DESC" } else { "" }))
                .collect();
            keys.push("order_id".into());
            let inner = format!(
                "SELECT order_id, user_id, status, amount, created_at FROM t_order{} ORDER BY {} LIMIT {offset}, {count}",
                r#where,
                keys.join(", ")
            );
            let (with, from) = if *cte {
                (format!("WITH d AS ({inner}) "), "d".to_string())
            } else {
                (String::new(), format!("({inner}) AS d"))
            };
            let query = match outer {
                0 => format!("SELECT d.* FROM {from} ORDER BY d.amount, d.order_id DESC"),
                1 => format!(
                    "SELECT COUNT(*), SUM(d.amount), MIN(d.user_id), MAX(d.created_at) FROM {from}"
                ),
                _ => format!(
                    "SELECT d.user_id, COUNT(*), SUM(d.amount) FROM {from} GROUP BY d.user_id ORDER BY d.user_id"
                ),
            };
            format!("{with}{query}")
        }
        Shape::Join {
            left,
            key,
            right,
            limit,
        } => {
            // The left table's condition, its columns qualified (a subquery is not taken
            // by a join across shards).
            let outer = filter
                .as_ref()
                .filter(|f| !f.contains("SELECT"))
                .map(|f| {
                    let mut f = f.clone();
                    for column in ["order_id", "user_id", "status", "amount", "created_at"] {
                        f = f.replace(column, &format!("a.{column}"));
                    }
                    format!(" WHERE {f}")
                })
                .unwrap_or_default();
            let (on_extra, where_extra) = match (right, left) {
                (Some(r), true) => (format!(" AND {r}"), String::new()),
                (Some(r), false) if outer.is_empty() => (String::new(), format!(" WHERE {r}")),
                (Some(r), false) => (String::new(), format!(" AND {r}")),
                (None, _) => (String::new(), String::new()),
            };
            let limit = limit
                .map(|(o, n)| format!(" LIMIT {o}, {n}"))
                .unwrap_or_default();
            format!(
                "SELECT a.order_id, a.{key}, b.order_id AS b_id, b.status FROM t_order a {} t_order b ON a.{key} = b.{key}{on_extra}{outer}{where_extra} ORDER BY a.order_id, b_id{limit}",
                if *left { "LEFT JOIN" } else { "JOIN" }
            )
        }
        Shape::Union {
            branches,
            all,
            descending,
            limit,
        } => {
            let branches: Vec<String> = branches
                .iter()
                .map(|(kind, filter)| {
                    let w = filter
                        .as_ref()
                        .map(|f| format!(" WHERE {f}"))
                        .unwrap_or_default();
                    match kind {
                        0 => format!("SELECT order_id, status FROM t_order{w}"),
                        1 => format!("SELECT user_id, status FROM t_order{w}"),
                        2 => format!("SELECT user_id, MAX(status) FROM t_order{w} GROUP BY user_id"),
                        3 => format!(
                            "(SELECT order_id, status FROM t_order{w} ORDER BY amount DESC, order_id LIMIT 7)"
                        ),
                        _ => format!("SELECT COUNT(*), MIN(status) FROM t_order{w}"),
                    }
                })
                .collect();
            let glue = if *all { " UNION ALL " } else { " UNION " };
            let direction = if *descending { " DESC" } else { "" };
            let limit = limit
                .map(|(o, n)| format!(" LIMIT {n} OFFSET {o}"))
                .unwrap_or_default();
            format!(
                "{} ORDER BY 1{direction}, 2{direction}{limit}",
                branches.join(glue)
            )
        }
        Shape::Window {
            functions,
            grouped,
            limit,
        } => {
            let windows: Vec<String> = functions
                .iter()
                .enumerate()
                .map(|(n, (kind, partition, order))| {
                    format!(
                        "{} AS w{n}",
                        window_function(n, *kind, *partition, order, *grouped)
                    )
                })
                .collect();
            let limit = limit
                .map(|(o, n)| format!(" LIMIT {o}, {n}"))
                .unwrap_or_default();
            if *grouped {
                format!(
                    "SELECT user_id, COUNT(*) AS n, {} FROM t_order{} GROUP BY user_id ORDER BY user_id{limit}",
                    windows.join(", "),
                    r#where
                )
            } else {
                format!(
                    "SELECT order_id, user_id, {} FROM t_order{} ORDER BY order_id{limit}",
                    windows.join(", "),
                    r#where
                )
            }
        }
        Shape::Grouped {
            key,
            aggregates,
            descending,
            order_by,
            having,
            limit,
        } => {
            let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
            let having = having
                .as_ref()
                .map(|h| format!(" HAVING {h}"))
                .unwrap_or_default();
            match key {
                Some(key) => {
                    let by = match order_by {
                        0 => key.to_string(),
                        1 => "1".to_string(),
                        _ => format!("{}, {key}", aggregates[0]),
                    };
                    let order = match descending {
                        Some(true) => format!(" ORDER BY {by} DESC"),
                        Some(false) => format!(" ORDER BY {by}"),
                        None => String::new(),
                    };
                    format!(
                        "SELECT {key}, {} FROM t_order{} GROUP BY {key}{having}{order}{limit}",
                        aggregates.join(", "),
                        r#where
                    )
                }
                None => format!(
                    "SELECT {} FROM t_order{}{having}{limit}",
                    aggregates.join(", "),
                    r#where
                ),
            }
        }
    }
}
