//! The series table: every distinct series is interned once and named by a dense `u32` id.
//!
//! A series is identified by a 64-bit hash of its resource attributes, scope, metric name,
//! kind and point attributes, computed by ingest from borrowed request bytes. The table maps
//! that hash to a `series_id` and keeps the descriptive columns (`node`, `metric`, `device`,
//! `pod`, `namespace`, `cluster`, `unit`, `kind`, `attributes`) that SQL and scoring read.
//!
//! Readers (ingest, many at once) look ids up under a shared lock held for a whole request;
//! only a series seen for the first time takes the exclusive lock.

use crate::error::EngineError;
use hashbrown::HashMap;
use parking_lot::{RwLock, RwLockReadGuard};
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

/// Interned series: hash → id, and id → descriptive columns.
#[derive(Debug, Default)]
pub struct SeriesTable {
    by_hash: HashMap<u64, u32>,
    infos: Vec<Arc<SeriesInfo>>,
}

impl SeriesTable {
    /// The id of an already interned series.
    #[inline]
    pub fn get(&self, hash: u64) -> Option<u32> {
        self.by_hash.get(&hash).copied()
    }

    /// Descriptive columns of series `id`.
    pub fn info(&self, id: u32) -> Option<&Arc<SeriesInfo>> {
        self.infos.get(id as usize)
    }

    /// Number of interned series.
    pub fn len(&self) -> usize {
        self.infos.len()
    }

    /// True when no series is interned.
    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// All series in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Arc<SeriesInfo>)> {
        self.infos.iter().enumerate().map(|(id, info)| (id as u32, info))
    }
}

/// The shared, lock-protected series table with its size limit.
#[derive(Debug)]
pub struct SeriesInterner {
    table: RwLock<SeriesTable>,
    max_series: usize,
}

impl SeriesInterner {
    /// An empty table that accepts at most `max_series` series.
    pub fn new(max_series: usize) -> Self {
        Self { table: RwLock::new(SeriesTable::default()), max_series }
    }

    /// A shared view for lookups; hold it across a request, not across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, SeriesTable> {
        self.table.read()
    }

    /// Interns a series, or returns the id it already has (another request may have won the
    /// race). Fails with [`EngineError::SeriesLimit`] when the table is full.
    pub fn register(&self, hash: u64, info: SeriesInfo) -> Result<u32, EngineError> {
        let mut table = self.table.write();
        if let Some(id) = table.get(hash) {
            return Ok(id);
        }
        if table.infos.len() >= self.max_series {
            return Err(EngineError::SeriesLimit { limit: self.max_series });
        }
        let id = u32::try_from(table.infos.len()).map_err(|_| EngineError::SeriesLimit { limit: self.max_series })?;
        table.infos.push(Arc::new(info));
        table.by_hash.insert(hash, id);
        Ok(id)
    }

    /// Makes `alias` (a hash of a series' encoded form, in another hash domain than the
    /// identity hashes) find series `id`. Aliases stop being added once the table holds four
    /// entries per allowed series, so that a client varying its encoding cannot grow it
    /// without bound; lookups then go on through the identity hash.
    pub fn add_alias(&self, alias: u64, id: u32) {
        let mut table = self.table.write();
        if table.by_hash.len() < self.max_series.saturating_mul(4) {
            table.by_hash.insert(alias, id);
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
}
