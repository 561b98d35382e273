//! `key IN (v1, v2, ...)` on the sharding key, cut per physical table: each statement
//! carries only the values that route to its table. A row of a physical table has a key
//! that routes there, so a value that routes elsewhere never equals it: dropping such values
//! leaves the condition's value on every row of that table unchanged, whatever surrounds it
//! (AND, OR, NOT). Values that route nowhere exactly (NULL, strings, expressions) stay in
//! every statement. A list left without values keeps its first, which matches no row of the
//! table, as the whole list did not.
//!
//! Without the cut, 100,000 keys over 1,024 tables were copied into every statement.

use std::collections::HashMap;
use std::ops::Range;

use crate::condition::{Evaluator, KeyValue, Operand};

/// One value of a key list, in the template text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyListItem {
    /// The value's text (`?`, `-?`, `NULL`).
    pub range: Range<usize>,
    /// Where its placeholder is and which one it is, if it has one.
    pub placeholder: Option<(usize, usize)>,
    pub operand: Operand,
}

/// Which items of each key list go to which physical table, for one binding.
#[derive(Debug, Default)]
pub(crate) struct KeyListRoutes {
    /// By key list (in edit order): items by (layout database, table), and the items that
    /// go everywhere, each in list order.
    lists: Vec<ListRoutes>,
}

#[derive(Debug, Default)]
struct ListRoutes {
    located: HashMap<(usize, usize), Vec<usize>>,
    everywhere: Vec<usize>,
}

impl KeyListRoutes {
    /// Locates every item of `lists` with the bound values.
    pub(crate) fn new<'l>(
        lists: impl Iterator<Item = &'l [KeyListItem]>,
        eval: &Evaluator<'_>,
    ) -> Self {
        let lists = lists
            .map(|items| {
                let mut routes = ListRoutes::default();
                for (i, item) in items.iter().enumerate() {
                    let key = item.operand.resolve(eval.params);
                    match key {
                        KeyValue::Int(_) => match eval.locate(key, false) {
                            Some(pair) => routes.located.entry(pair).or_default().push(i),
                            None => routes.everywhere.push(i),
                        },
                        // Strings compare by collation, which routing does not know.
                        _ => routes.everywhere.push(i),
                    }
                }
                routes
            })
            .collect();
        KeyListRoutes { lists }
    }

    /// The items of key list `list` that the statement for `pair` carries, in list order.
    pub(crate) fn items_for(&self, list: usize, pair: (usize, usize)) -> Vec<usize> {
        let Some(routes) = self.lists.get(list) else {
            return Vec::new();
        };
        let here = routes.located.get(&pair).map_or(&[][..], Vec::as_slice);
        let mut items = Vec::with_capacity(here.len() + routes.everywhere.len());
        let (mut a, mut b) = (here.iter().peekable(), routes.everywhere.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => {
                    items.push(x);
                    a.next();
                }
                (_, Some(&&y)) => {
                    items.push(y);
                    b.next();
                }
                (Some(&&x), None) => {
                    items.push(x);
                    a.next();
                }
                (None, None) => break,
            }
        }
        if items.is_empty() {
            items.push(0);
        }
        items
    }
}
