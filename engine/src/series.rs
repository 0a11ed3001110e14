//! The series table: every distinct series is interned once and named by a dense `u32` id.
//!
//! A series is identified by a 64-bit hash of its resource attributes, scope, metric name,
//! kind and point attributes, computed by ingest from borrowed request bytes. The table maps
//! that hash to a `series_id` and keeps the descriptive columns (`node`, `metric`, `device`,
//! `pod`, `namespace`, `cluster`, `unit`, `kind`, `attributes`) that SQL and scoring read.
//!
//! Readers (ingest, many at once) look ids up under a shared lock held for a whole request;
//! only a series seen for the first time takes the exclusive lock.
//!
//! ## Expiry and reuse of ids
//! A series not seen for `engine.series_ttl_seconds` is *retired*: its hash (and every alias)
//! stops finding it, so a series with the same identity that comes back gets a new id, while
//! its descriptive columns stay for the points still live. Its id is *freed* for a new series
//! only when both
//! - every batch built before the retirement has been stored: each [`SeriesEpoch`] handed to
//!   a builder is held by its batch until the engine has applied it, and a retirement waits
//!   for the epoch current at the time to be held by nobody else; and
//! - `hold` nanoseconds have passed since then (the engine uses retention + lateness + one
//!   window), so that no live window, aggregate or late batch still names the old series.
//!
//! A table therefore never gives one id two meanings at once. `max_series` counts the active
//! series only, so that a retirement makes room at once; with churn the table holds at most
//! `max_series` active ones plus those retired within a hold, not every series ever seen.
//! [`SeriesTable::bytes`] estimates its heap: the descriptive strings, the `Arc` and
//! `SeriesInfo` of each series, and [`INDEX_ENTRY_BYTES`] per hash or alias entry.

use crate::error::EngineError;
use hashbrown::HashMap;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::Arc;

/// What kind of values a series carries, after ingest normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesKind {
    /// A value that is read as it is: OTLP gauges and non-monotonic cumulative sums.
    Gauge,
    /// A monotonic sum; samples hold the increase since the previous point.
    Counter,
    /// A non-monotonic delta sum; samples hold the signed change.
    UpDownDelta,
    /// An explicit or exponential histogram; rows go to the histogram store.
    Histogram,
    /// The count and sum of an OTLP summary; rows go to the histogram store without buckets.
    Summary,
    /// One quantile of an OTLP summary (its `quantile` attribute names which); read as a gauge.
    SummaryQuantile,
}

impl SeriesKind {
    /// Every kind.
    pub const ALL: [SeriesKind; 6] = [
        SeriesKind::Gauge,
        SeriesKind::Counter,
        SeriesKind::UpDownDelta,
        SeriesKind::Histogram,
        SeriesKind::Summary,
        SeriesKind::SummaryQuantile,
    ];

    /// The kind a `series.kind` name names ([`SeriesKind::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The name shown in the `series.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Gauge => "gauge",
            SeriesKind::Counter => "counter",
            SeriesKind::UpDownDelta => "updown_delta",
            SeriesKind::Histogram => "histogram",
            SeriesKind::Summary => "summary",
            SeriesKind::SummaryQuantile => "summary_quantile",
        }
    }

    /// True for kinds whose samples are changes over an interval, so that a window's sum is
    /// meaningful and its rate is `sum / window length`.
    pub fn is_delta(self) -> bool {
        matches!(self, SeriesKind::Counter | SeriesKind::UpDownDelta)
    }
}

/// The descriptive columns of one series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesInfo {
    /// Node name: `k8s.node.name`, else `host.name`, else `service.instance.id`.
    pub node: Option<String>,
    /// Canonical metric name, or the OTLP name when no mapping applies.
    pub metric: String,
    /// Device the series is about (GPU id, disk, NIC, CPU), when an attribute names one.
    pub device: Option<String>,
    /// Pod name (`k8s.pod.name`).
    pub pod: Option<String>,
    /// Namespace (`k8s.namespace.name`).
    pub namespace: Option<String>,
    /// Cluster (`k8s.cluster.name`).
    pub cluster: Option<String>,
    /// Instance type of the node (`node.kubernetes.io/instance-type`, else `host.type`),
    /// which selects a configured price.
    pub instance_type: Option<String>,
    /// Unit as sent (UCUM), empty when none.
    pub unit: String,
    /// Value kind after normalisation.
    pub kind: Option<SeriesKind>,
    /// Whether points arrive cumulative and are turned into deltas by the engine.
    pub cumulative: bool,
    /// The remaining point attributes, `key=value` sorted by key and joined by `,`.
    pub attributes: String,
}

impl SeriesInfo {
    /// The series kind, `gauge` when unset.
    pub fn kind(&self) -> SeriesKind {
        self.kind.unwrap_or(SeriesKind::Gauge)
    }
}

/// Estimated bytes of one entry of the hash index: the `(u64, u32)` pair padded to 16 and its
/// control byte.
pub const INDEX_ENTRY_BYTES: usize = 17;

/// Held by every batch built from the table, until the engine has stored it: the table frees
/// an id retired in an epoch only once nobody else holds that epoch (module doc).
#[derive(Debug, Clone, Default)]
pub struct SeriesEpoch(Arc<()>);

impl PartialEq for SeriesEpoch {
    /// Epochs are not data: two batches with the same rows are equal whatever they hold.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Ids retired together, waiting to be freed.
#[derive(Debug)]
struct Retired {
    ids: Vec<u32>,
    /// The epoch current when they were retired; `None` once nobody else held it.
    epoch: Option<SeriesEpoch>,
    /// When the epoch was first found released.
    quiet_since: Option<i64>,
}

/// Interned series: hash → id, and id → descriptive columns.
#[derive(Debug, Default)]
pub struct SeriesTable {
    by_hash: HashMap<u64, u32>,
    /// Descriptive columns by id; `None` for a freed id.
    infos: Vec<Option<Arc<SeriesInfo>>>,
    free: Vec<u32>,
    /// By id: whether the id is retired and not yet freed.
    retiring: Vec<bool>,
    retired: Vec<Retired>,
    /// Ids retired and not yet freed.
    retired_count: usize,
    epoch: SeriesEpoch,
    bytes: usize,
}

impl SeriesTable {
    /// The id of an already interned series.
    #[inline]
    pub fn get(&self, hash: u64) -> Option<u32> {
        self.by_hash.get(&hash).copied()
    }

    /// Descriptive columns of series `id`.
    pub fn info(&self, id: u32) -> Option<&Arc<SeriesInfo>> {
        self.infos.get(id as usize).and_then(Option::as_ref)
    }

    /// Number of series held, retired ones included until their id is freed.
    pub fn len(&self) -> usize {
        self.infos.len() - self.free.len()
    }

    /// True when no series is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every held series in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Arc<SeriesInfo>)> {
        self.infos.iter().enumerate().filter_map(|(id, info)| info.as_ref().map(|info| (id as u32, info)))
    }

    /// True when `id` names a series that is neither retired nor freed.
    pub fn is_active(&self, id: u32) -> bool {
        self.info(id).is_some() && !self.retiring[id as usize]
    }

    /// The epoch a builder holds until its batch is stored (module doc).
    pub fn epoch(&self) -> SeriesEpoch {
        self.epoch.clone()
    }

    /// Estimated heap bytes of the table (module doc).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Series neither retired nor freed: those `max_series` counts.
    pub fn active(&self) -> usize {
        self.len() - self.retired_count
    }

    /// Series retired and not yet freed.
    pub fn retired(&self) -> usize {
        self.retired_count
    }

    /// The highest id ever given, plus one: the length per-series state indexed by id needs.
    pub fn id_bound(&self) -> usize {
        self.infos.len()
    }

    fn insert(&mut self, hash: u64, info: SeriesInfo) -> u32 {
        self.bytes += info_bytes(&info) + INDEX_ENTRY_BYTES;
        let info = Some(Arc::new(info));
        let id = match self.free.pop() {
            Some(id) => {
                self.infos[id as usize] = info;
                id
            }
            None => {
                self.infos.push(info);
                self.retiring.push(false);
                (self.infos.len() - 1) as u32
            }
        };
        self.by_hash.insert(hash, id);
        id
    }

    /// Retires `ids` (module doc; ids already retired or freed are a caller's bug and are
    /// skipped): their hashes and aliases stop finding them, and a new epoch
    /// begins for the builders that come after.
    pub fn retire(&mut self, ids: Vec<u32>) {
        let ids: Vec<u32> = ids.into_iter().filter(|&id| self.is_active(id)).collect();
        if ids.is_empty() {
            return;
        }
        for &id in &ids {
            self.retiring[id as usize] = true;
        }
        let before = self.by_hash.len();
        let retiring = &self.retiring;
        self.by_hash.retain(|_, id| !retiring[*id as usize]);
        self.bytes -= (before - self.by_hash.len()) * INDEX_ENTRY_BYTES;
        self.retired_count += ids.len();
        let epoch = std::mem::take(&mut self.epoch);
        self.retired.push(Retired { ids, epoch: Some(epoch), quiet_since: None });
    }

    /// Frees the retired ids whose epoch (and every older one) nobody else holds since at
    /// least `hold` nanoseconds before `now` (module doc), and returns them: per-series state kept elsewhere under
    /// these ids must be reset before they name new series.
    pub fn release(&mut self, now: i64, hold: i64) -> Vec<u32> {
        // Groups are freed oldest first, and a group counts as quiet only once every older
        // one is: a builder older than several retirements holds only the oldest epoch.
        let mut older_quiet = true;
        for retired in &mut self.retired {
            let released = retired.epoch.as_ref().is_some_and(|epoch| Arc::strong_count(&epoch.0) == 1);
            if retired.quiet_since.is_none() && older_quiet && released {
                retired.epoch = None;
                retired.quiet_since = Some(now);
            }
            older_quiet &= retired.quiet_since.is_some();
        }
        let due = self
            .retired
            .iter()
            .take_while(|retired| retired.quiet_since.is_some_and(|since| since <= now.saturating_sub(hold)))
            .count();
        let freed: Vec<u32> = self.retired.drain(..due).flat_map(|retired| retired.ids).collect();
        for &id in &freed {
            self.retiring[id as usize] = false;
            if let Some(info) = self.infos[id as usize].take() {
                self.bytes -= info_bytes(&info);
            }
        }
        self.retired_count -= freed.len();
        self.free.extend(&freed);
        freed
    }
}

/// Estimated heap bytes of one series' descriptive columns: the `Arc` header (16), the
/// `SeriesInfo` and the capacity of each of its strings.
fn info_bytes(info: &SeriesInfo) -> usize {
    let optional = [&info.node, &info.device, &info.pod, &info.namespace, &info.cluster, &info.instance_type];
    16 + std::mem::size_of::<SeriesInfo>()
        + optional.into_iter().flatten().map(String::capacity).sum::<usize>()
        + info.metric.capacity()
        + info.unit.capacity()
        + info.attributes.capacity()
}

/// The shared, lock-protected series table with its size limit.
#[derive(Debug)]
pub struct SeriesInterner {
    table: RwLock<SeriesTable>,
    max_series: usize,
}

impl SeriesInterner {
    /// An empty table that accepts at most `max_series` active series (retired ones waiting
    /// for their id to be freed are not counted: their bytes are, in the live budget).
    pub fn new(max_series: usize) -> Self {
        Self { table: RwLock::new(SeriesTable::default()), max_series }
    }

    /// A shared view for lookups; hold it across a request, not across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, SeriesTable> {
        self.table.read()
    }

    /// The exclusive view expiry needs; every reader waits meanwhile.
    pub fn write(&self) -> RwLockWriteGuard<'_, SeriesTable> {
        self.table.write()
    }

    /// Interns a series, or returns the id it already has (another request may have won the
    /// race). Fails with [`EngineError::SeriesLimit`] when the table is full.
    pub fn register(&self, hash: u64, info: SeriesInfo) -> Result<u32, EngineError> {
        let mut table = self.table.write();
        if let Some(id) = table.get(hash) {
            return Ok(id);
        }
        if self.is_full(&table) || (table.free.is_empty() && table.infos.len() > u32::MAX as usize) {
            return Err(EngineError::SeriesLimit { limit: self.max_series });
        }
        Ok(table.insert(hash, info))
    }

    /// Whether `table` holds `max_series` active series: a new one would be refused. Ingest
    /// asks before describing a new series, so that a flood of new series past the limit
    /// costs a lookup each, not an allocation.
    pub fn is_full(&self, table: &SeriesTable) -> bool {
        table.active() >= self.max_series
    }

    /// Makes `alias` (a hash of a series' encoded form, in another hash domain than the
    /// identity hashes) find series `id`. Aliases stop being added once the table holds four
    /// entries per allowed series, so that a client varying its encoding cannot grow it
    /// without bound; lookups then go on through the identity hash. An alias of a series
    /// retired meanwhile (the builder asked before it was) is not added.
    pub fn add_alias(&self, alias: u64, id: u32) {
        let mut table = self.table.write();
        if table.by_hash.len() < self.max_series.saturating_mul(4)
            && table.is_active(id)
            && table.by_hash.insert(alias, id).is_none()
        {
            table.bytes += INDEX_ENTRY_BYTES;
        }
    }

    /// Number of interned series.
    pub fn len(&self) -> usize {
        self.table.read().len()
    }

    /// True when no series is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured limit.
    pub fn max_series(&self) -> usize {
        self.max_series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(metric: &str) -> SeriesInfo {
        SeriesInfo { metric: metric.into(), ..Default::default() }
    }

    #[test]
    fn register_gives_dense_ids_and_is_idempotent() {
        let interner = SeriesInterner::new(10);
        assert_eq!(interner.register(7, info("a")).unwrap(), 0);
        assert_eq!(interner.register(9, info("b")).unwrap(), 1);
        assert_eq!(interner.register(7, info("ignored")).unwrap(), 0);
        let table = interner.read();
        assert_eq!(table.get(9), Some(1));
        assert_eq!(table.info(0).unwrap().metric, "a");
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn an_alias_finds_the_same_series() {
        let interner = SeriesInterner::new(10);
        let id = interner.register(7, info("a")).unwrap();
        interner.add_alias(70, id);
        interner.add_alias(71, id);
        let table = interner.read();
        assert_eq!((table.get(70), table.get(71)), (Some(id), Some(id)));
        assert_eq!(table.len(), 1, "aliases are not series");
    }

    #[test]
    fn limit_rejects_new_series_but_not_known_ones() {
        let interner = SeriesInterner::new(1);
        interner.register(1, info("a")).unwrap();
        assert!(matches!(interner.register(2, info("b")), Err(EngineError::SeriesLimit { limit: 1 })));
        assert_eq!(interner.register(1, info("a")).unwrap(), 0);
    }

    const HOLD: i64 = 100;

    #[test]
    fn a_retired_series_is_not_found_but_keeps_its_columns_until_freed() {
        let interner = SeriesInterner::new(10);
        let a = interner.register(7, info("a")).unwrap();
        interner.add_alias(70, a);
        let b = interner.register(8, info("b")).unwrap();
        let mut table = interner.write();
        table.retire(vec![a]);
        assert_eq!((table.get(7), table.get(70), table.get(8)), (None, None, Some(b)));
        assert_eq!(table.info(a).unwrap().metric, "a", "points still live name it");
        assert!(!table.is_active(a) && table.is_active(b));
        assert_eq!((table.len(), table.retired()), (2, 1));
    }

    #[test]
    fn an_id_is_freed_once_its_epoch_is_released_and_the_hold_has_passed() {
        let interner = SeriesInterner::new(10);
        let a = interner.register(7, info("a")).unwrap();
        let in_flight = interner.read().epoch();
        interner.write().retire(vec![a]);
        assert!(interner.write().release(1_000, HOLD).is_empty(), "a batch built before still holds the epoch");
        drop(in_flight);
        assert!(interner.write().release(1_050, HOLD).is_empty(), "quiet since 1050, held until 1150");
        assert!(interner.write().release(1_149, HOLD).is_empty());
        assert_eq!(interner.write().release(1_150, HOLD), vec![a]);
        let table = interner.read();
        assert!(table.info(a).is_none());
        assert_eq!((table.len(), table.retired()), (0, 0));
        drop(table);
        assert_eq!(interner.register(9, info("c")).unwrap(), a, "the freed id names the next new series");
        assert_eq!(interner.read().info(a).unwrap().metric, "c");
    }

    #[test]
    fn a_later_retirement_waits_for_every_older_epoch() {
        let interner = SeriesInterner::new(10);
        let a = interner.register(1, info("a")).unwrap();
        let b = interner.register(2, info("b")).unwrap();
        let oldest = interner.read().epoch();
        interner.write().retire(vec![a]);
        interner.write().retire(vec![b]);
        // Only the oldest builder is still running: it may hold b's id too.
        assert!(interner.write().release(1_000, 0).is_empty());
        drop(oldest);
        assert_eq!(interner.write().release(2_000, 0), vec![a, b]);
    }

    #[test]
    fn an_alias_of_a_retired_series_is_not_added() {
        let interner = SeriesInterner::new(10);
        let a = interner.register(7, info("a")).unwrap();
        interner.write().retire(vec![a]);
        interner.add_alias(70, a);
        assert_eq!(interner.read().get(70), None);
    }

    #[test]
    fn bytes_count_every_string_and_index_entry_and_return_to_zero() {
        let interner = SeriesInterner::new(10);
        let series = SeriesInfo { metric: "cpu".into(), node: Some("node-1".into()), ..Default::default() };
        let strings = series.metric.capacity() + series.node.as_ref().unwrap().capacity();
        let a = interner.register(7, series).unwrap();
        let one = 16 + std::mem::size_of::<SeriesInfo>() + strings + INDEX_ENTRY_BYTES;
        assert_eq!(interner.read().bytes(), one);
        interner.add_alias(70, a);
        assert_eq!(interner.read().bytes(), one + INDEX_ENTRY_BYTES);
        interner.write().retire(vec![a]);
        assert_eq!(interner.read().bytes(), one - INDEX_ENTRY_BYTES, "the columns stay until freed");
        interner.write().release(0, 0);
        assert_eq!(interner.read().bytes(), 0);
    }

    #[test]
    fn a_retired_series_makes_room_at_once_and_its_id_is_reused_once_freed() {
        let interner = SeriesInterner::new(1);
        let a = interner.register(1, info("a")).unwrap();
        assert!(matches!(interner.register(2, info("b")), Err(EngineError::SeriesLimit { limit: 1 })));
        interner.write().retire(vec![a]);
        let b = interner.register(2, info("b")).unwrap();
        assert_ne!(b, a, "a's id is not free yet");
        interner.write().retire(vec![b]);
        interner.write().release(0, 0);
        assert_eq!(interner.register(3, info("c")).unwrap(), b, "freed ids are taken newest first");
        assert!(matches!(interner.register(4, info("d")), Err(EngineError::SeriesLimit { limit: 1 })));
    }
}
