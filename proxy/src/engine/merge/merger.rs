//! The merge operators over shard streams, pulled one output row at a time so results
//! stream to the client with backpressure:
//! - concatenation: each stream in turn, rows relayed as their packets;
//! - ORDER BY: a k-way merge (a heap over the heads of sorted streams);
//! - GROUP BY whose rows come sorted by the group keys: groups fold as they pass;
//! - other grouping: groups hashed in memory, then sorted;
//! - SELECT DISTINCT, and ORDER BY over statements that could not be sorted: buffered under
//!   the budget, sorted, deduplicated.
//!
//! LIMIT and OFFSET apply to the merged rows. Derived columns are hidden; rows that keep all
//! their columns and values go out as the backend's packets.

use std::cmp::Ordering;
use std::collections::HashMap;

use shardgate_router::{MergeOperator, SelectMerge};

use super::group::{Group, GroupFolder, Values};
use super::group_concat::GroupConcatCuts;
use super::select::{compare_rows, MergeError};
use super::stream::{Decode, ShardHeader, ShardRow, ShardStream};
use super::value::{ColumnKind, SortValue};

/// A merged row for the client: a packet to relay, or values to encode (in the text or
/// binary protocol, as the header says).
#[derive(Debug, Clone)]
pub enum OutRow {
    Packet(Vec<u8>),
    Values(Values),
}

/// `(column, descending, kind)` sort keys.
type Keys = Vec<(usize, bool, ColumnKind)>;

/// How the merge will run, chosen from the spec before the statements are sent (it decides
/// which columns the readers decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Concat,
    /// K-way merge of streams sorted by the shard order.
    Ordered,
    /// K-way merge by the group keys, folding groups as they pass.
    GroupStream,
    GroupHash,
    /// Everything in memory: SELECT DISTINCT, or ORDER BY over unsorted statements.
    Buffered,
}

impl Strategy {
    /// How to run the planner's first merge operator. `ordered`: every statement ends with
    /// the spec's shard order.
    pub fn choose(spec: &SelectMerge, ordered: bool) -> Strategy {
        match spec.operators(ordered).first() {
            Some(MergeOperator::MergeSort { .. }) => Strategy::Ordered,
            Some(MergeOperator::SortInMemory { .. }) => Strategy::Buffered,
            Some(MergeOperator::OrderedAggregate { .. }) => Strategy::GroupStream,
            Some(MergeOperator::HashAggregate { .. }) => Strategy::GroupHash,
            // The planner starts every merge with one of the above or a concatenation.
            _ => Strategy::Concat,
        }
    }

    /// Whether the merge needs the first row of every statement at once.
    pub fn needs_all_heads(self) -> bool {
        matches!(self, Strategy::Ordered | Strategy::GroupStream)
    }

    /// Which columns the readers must decode.
    pub fn decode(self, spec: &SelectMerge) -> Decode {
        match self {
            Strategy::Concat if spec.derived.is_empty() => Decode::Nothing,
            // Sort keys only, unless derived columns must be cut from the rows.
            Strategy::Ordered if spec.derived.is_empty() => {
                Decode::Columns(spec.order_by.iter().filter_map(|k| k.column).collect())
            }
            _ => Decode::All,
        }
    }
}

enum Source {
    Concat {
        streams: Vec<ShardStream>,
        at: usize,
    },
    Ordered(KWay),
    GroupStream {
        input: KWay,
        folder: Box<GroupFolder>,
        current: Option<(Values, Group)>,
    },
    Rows(std::vec::IntoIter<OutRow>),
}

/// A merge in progress.
pub struct Merger {
    source: Source,
    /// Groups whose GROUP_CONCAT was cut at group_concat_max_len.
    cuts: GroupConcatCuts,
    /// The client's columns (derived ones cut).
    pub header: ShardHeader,
    /// Rows must be re-encoded: derived columns are cut from them.
    hide: bool,
    visible: usize,
    offset: u64,
    limit: Option<u64>,
}

impl Merger {
    /// Starts the merge: waits for the first result's columns (and, for a k-way merge, the
    /// first row of every stream).
    pub async fn start(
        spec: &SelectMerge,
        strategy: Strategy,
        streams: Vec<ShardStream>,
    ) -> Result<Merger, MergeError> {
        Merger::start_with_header(spec, strategy, streams, None).await
    }

    /// [`Merger::start`], the result's columns given (a UNION's, reconciled from its
    /// branches') rather than the first statement's.
    pub async fn start_with_header(
        spec: &SelectMerge,
        strategy: Strategy,
        mut streams: Vec<ShardStream>,
        given: Option<ShardHeader>,
    ) -> Result<Merger, MergeError> {
        let header = match (given, streams.first_mut()) {
            (Some(header), _) => header,
            (None, Some(s)) => s.header().await?.clone(),
            (None, None) => ShardHeader::default(),
        };
        let visible = spec.visible(header.columns.len());
        let hide = visible < header.columns.len();
        let kind = |c: usize| header.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes);
        let sort_keys: Keys = (0..spec.order_by.len())
            .filter_map(|i| {
                let c = spec.sort_column(i, visible)?;
                Some((c, spec.order_by[i].descending, kind(c)))
            })
            .collect();
        let mut cuts = GroupConcatCuts::default();
        let source = match strategy {
            Strategy::Concat => Source::Concat { streams, at: 0 },
            Strategy::Ordered => Source::Ordered(KWay::new(streams, sort_keys).await?),
            Strategy::GroupStream => {
                let folder = Box::new(GroupFolder::new(spec, &header)?);
                cuts = folder.cuts.clone();
                let keys = group_stream_keys(spec, &folder, visible, &header);
                Source::GroupStream {
                    input: KWay::new(streams, keys).await?,
                    folder,
                    current: None,
                }
            }
            Strategy::GroupHash => {
                let folder = GroupFolder::new(spec, &header)?;
                cuts = folder.cuts.clone();
                let rows =
                    hash_groups(spec, &folder, streams, &sort_keys, header.columns.len()).await?;
                Source::Rows(rows.into_iter())
            }
            Strategy::Buffered => {
                let rows = buffered(spec, streams, sort_keys, &header.kinds, visible, hide).await?;
                Source::Rows(rows.into_iter())
            }
        };
        let mut header = header;
        header.columns.truncate(visible);
        header.kinds.truncate(visible);
        header.types.truncate(visible);
        Ok(Merger {
            source,
            cuts,
            header,
            hide,
            visible,
            offset: spec.offset,
            limit: spec.limit,
        })
    }

    /// The result rows (1-based) whose GROUP_CONCAT was cut at `group_concat_max_len`, for
    /// MySQL's warning 1260.
    pub fn group_concat_cuts(&self) -> Vec<u64> {
        self.cuts.rows()
    }

    /// The next row for the client, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<OutRow>, MergeError> {
        loop {
            if self.limit == Some(0) {
                return Ok(None);
            }
            let Some(row) = self.pull().await? else {
                return Ok(None);
            };
            if self.offset > 0 {
                self.offset -= 1;
                continue;
            }
            if let Some(limit) = &mut self.limit {
                *limit -= 1;
            }
            return Ok(Some(row));
        }
    }

    async fn pull(&mut self) -> Result<Option<OutRow>, MergeError> {
        let (hide, visible) = (self.hide, self.visible);
        let out = |row: ShardRow| {
            if hide {
                let mut values = row.values;
                values.truncate(visible);
                OutRow::Values(values)
            } else {
                OutRow::Packet(row.packet)
            }
        };
        match &mut self.source {
            Source::Concat { streams, at } => {
                while let Some(stream) = streams.get_mut(*at) {
                    if let Some(row) = stream.next().await? {
                        stream.budget.release(row.cost);
                        return Ok(Some(out(row)));
                    }
                    *at += 1;
                }
                Ok(None)
            }
            Source::Ordered(kway) => Ok(kway.pop().await?.map(out)),
            Source::Rows(rows) => Ok(rows.next()),
            Source::GroupStream {
                input,
                folder,
                current,
            } => loop {
                let Some(row) = input.pop().await? else {
                    let Some((_, group)) = current.take() else {
                        return Ok(None);
                    };
                    return Ok(folder.finish(group)?.map(|r| cut(r, visible)));
                };
                let key = folder.key(&row.values);
                match current {
                    Some((k, group)) if *k == key => folder.absorb(group, &row.values)?,
                    _ => {
                        let started = folder.start(row.values)?;
                        if let Some((_, done)) = current.replace((key, started)) {
                            if let Some(r) = folder.finish(done)? {
                                return Ok(Some(cut(r, visible)));
                            }
                        }
                    }
                }
            },
        }
    }
}

fn cut(mut row: Values, visible: usize) -> OutRow {
    row.truncate(visible);
    OutRow::Values(row)
}

/// The k-way merge's keys for folding groups as they pass: the query's sort keys (group
/// keys), then the other group keys ascending, as the router's shard order has them.
fn group_stream_keys(
    spec: &SelectMerge,
    folder: &GroupFolder,
    visible: usize,
    header: &ShardHeader,
) -> Keys {
    let kind = |c: usize| header.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes);
    let mut keys: Keys = Vec::new();
    for (i, sort) in spec.order_by.iter().enumerate() {
        if let Some(c) = spec.sort_column(i, visible) {
            if !keys.iter().any(|k| k.0 == c) {
                keys.push((c, sort.descending, kind(c)));
            }
        }
    }
    for &c in &folder.keys {
        if !keys.iter().any(|k| k.0 == c) {
            keys.push((c, false, kind(c)));
        }
    }
    keys
}

/// Folds every stream's rows into groups in memory, then finishes and sorts them.
async fn hash_groups(
    spec: &SelectMerge,
    folder: &GroupFolder,
    streams: Vec<ShardStream>,
    sort_keys: &Keys,
    columns: usize,
) -> Result<Vec<OutRow>, MergeError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Values, usize> = HashMap::new();
    for mut stream in streams {
        while let Some(row) = stream.next().await? {
            let key = folder.key(&row.values);
            match index.get(&key) {
                Some(&g) => {
                    folder.absorb(&mut groups[g], &row.values)?;
                    stream.budget.release(row.cost);
                }
                // The first row of a group stays charged: it is the group's memory.
                None => {
                    stream.keep(&row)?;
                    index.insert(key, groups.len());
                    groups.push(folder.start(row.values)?);
                }
            }
        }
    }
    let no_rows = groups.is_empty();
    let mut rows = Vec::with_capacity(groups.len());
    for group in groups {
        if let Some(row) = folder.finish(group)? {
            rows.push(row);
        }
    }
    if no_rows && spec.group_by.is_empty() {
        // Aggregates without GROUP BY answer one row even over no rows (if HAVING keeps it).
        rows.extend(folder.empty_result(columns)?);
    }
    if !sort_keys.is_empty() {
        rows.sort_by(|a, b| compare_rows(a, b, sort_keys));
    } else if !folder.keys.is_empty() {
        // MariaDB sorts GROUP BY results by the group keys when there is no ORDER BY.
        rows.sort_by(|a, b| folder.compare_keys(a, b));
    }
    Ok(rows.into_iter().map(|r| cut(r, folder.visible)).collect())
}

/// Reads every row, sorts by the ORDER BY keys (and, for DISTINCT, by every column so equal
/// rows from different shards meet), and keeps the first of each run of equal rows.
async fn buffered(
    spec: &SelectMerge,
    streams: Vec<ShardStream>,
    mut keys: Keys,
    kinds: &[ColumnKind],
    visible: usize,
    hide: bool,
) -> Result<Vec<OutRow>, MergeError> {
    let mut rows: Vec<ShardRow> = Vec::new();
    for mut stream in streams {
        while let Some(row) = stream.next().await? {
            stream.keep(&row)?;
            rows.push(row);
        }
    }
    let kind = |c: usize| kinds.get(c).copied().unwrap_or(ColumnKind::Bytes);
    let all: Keys = (0..visible).map(|c| (c, false, kind(c))).collect();
    if spec.distinct {
        keys.extend(all.iter().copied());
    }
    if !keys.is_empty() {
        rows.sort_by(|a, b| compare_rows(&a.values, &b.values, &keys));
    }
    if spec.distinct {
        rows.dedup_by(|later, earlier| {
            compare_rows(&later.values, &earlier.values, &all) == Ordering::Equal
        });
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            if hide {
                cut(row.values, visible)
            } else {
                OutRow::Packet(row.packet)
            }
        })
        .collect())
}

/// A k-way merge: a binary heap of stream indexes, ordered by each stream's head row (ties
/// by stream index, so equal rows keep the streams' order).
struct KWay {
    streams: Vec<ShardStream>,
    /// Each stream's head row and its sort key, parsed once.
    heads: Vec<Option<(ShardRow, Vec<SortValue>)>>,
    heap: Vec<usize>,
    keys: Keys,
}

impl KWay {
    async fn new(mut streams: Vec<ShardStream>, keys: Keys) -> Result<KWay, MergeError> {
        let mut heads = Vec::with_capacity(streams.len());
        for stream in &mut streams {
            let head = stream.next().await?;
            heads.push(head.map(|row| {
                let key = sort_key(&row, &keys);
                (row, key)
            }));
        }
        let mut kway = KWay {
            streams,
            heap: Vec::with_capacity(heads.len()),
            heads,
            keys,
        };
        for i in 0..kway.heads.len() {
            if kway.heads[i].is_some() {
                kway.heap.push(i);
                kway.sift_up(kway.heap.len() - 1);
            }
        }
        Ok(kway)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (Some((_, x)), Some((_, y))) = (&self.heads[a], &self.heads[b]) else {
            return false;
        };
        match compare_keys(x, y, &self.keys) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => a < b,
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(self.heap[i], self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[smallest]) {
                smallest = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[smallest]) {
                smallest = r;
            }
            if smallest == i {
                return;
            }
            self.heap.swap(i, smallest);
            i = smallest;
        }
    }

    /// The smallest head, replaced by the next row of its stream.
    async fn pop(&mut self) -> Result<Option<ShardRow>, MergeError> {
        let Some(&top) = self.heap.first() else {
            return Ok(None);
        };
        let Some((row, key)) = self.heads[top].take() else {
            return Ok(None);
        };
        let stream = &mut self.streams[top];
        stream.budget.release(row.cost);
        match stream.next().await? {
            Some(next) => {
                let next_key = sort_key(&next, &self.keys);
                if compare_keys(&next_key, &key, &self.keys) == Ordering::Less {
                    return Err(MergeError::Unordered(
                        "shardgate: a shard returned rows out of the order the merge expects (a collation it compares differently?); the query was stopped rather than answered wrongly".into(),
                    ));
                }
                self.heads[top] = Some((next, next_key));
            }
            None => {
                let last = self.heap.len() - 1;
                self.heap.swap(0, last);
                self.heap.pop();
            }
        }
        self.sift_down(0);
        Ok(Some(row))
    }
}

/// A row's sort key values.
fn sort_key(row: &ShardRow, keys: &Keys) -> Vec<SortValue> {
    keys.iter()
        .map(|&(c, _, kind)| SortValue::new(row.values.get(c).and_then(|v| v.as_deref()), kind))
        .collect()
}

/// Compares sort keys as [`compare_rows`] compares rows: NULL first ascending, last
/// descending.
fn compare_keys(a: &[SortValue], b: &[SortValue], keys: &Keys) -> Ordering {
    for ((x, y), &(_, descending, _)) in a.iter().zip(b).zip(keys) {
        let o = x.cmp(y);
        if o != Ordering::Equal {
            return if descending { o.reverse() } else { o };
        }
    }
    Ordering::Equal
}

#[cfg(test)]
#[path = "merger_tests.rs"]
mod tests;
