//! The encoding thresholds (`hash-max-listpack-*`, `set-max-intset-entries`,
//! `zset-max-listpack-*`, `list-max-listpack-size`, `hll-sparse-max-bytes`, `stream-node-max-*`) where the data
//! types read them.
//!
//! The data types decide what OBJECT ENCODING reports (and, for sets, the member order) from
//! a value alone, without the configuration at hand, so the thresholds are published here
//! whenever a configuration takes effect (at start and on CONFIG SET; see
//! `Config::encoding_limits`). They live in the keyspace layer, beside the types that read
//! them, and know nothing of the configuration file. They are process-wide: several servers
//! in one process (the tests) share them, as they would share Redis's globals.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

static HASH_MAX_LISTPACK_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_MAX_LISTPACK_VALUE: AtomicUsize = AtomicUsize::new(64);
static SET_MAX_INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static ZSET_MAX_LISTPACK_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_MAX_LISTPACK_VALUE: AtomicUsize = AtomicUsize::new(64);
static LIST_MAX_LISTPACK_SIZE: AtomicI64 = AtomicI64::new(-2);
static HLL_SPARSE_MAX_BYTES: AtomicUsize = AtomicUsize::new(3000);
static STREAM_NODE_MAX_ENTRIES: AtomicUsize = AtomicUsize::new(100);
static STREAM_NODE_MAX_BYTES: AtomicUsize = AtomicUsize::new(4096);

/// One set of thresholds, as a configuration gives them (Redis's defaults in brackets below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `hash-max-listpack-entries`
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries`
    pub set_max_intset_entries: usize,
    /// `zset-max-listpack-entries`
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`
    pub zset_max_listpack_value: usize,
    /// `hll-sparse-max-bytes`
    pub hll_sparse_max_bytes: usize,
    /// `list-max-listpack-size`
    pub list_max_listpack_size: i64,
    /// `stream-node-max-entries`
    pub stream_node_max_entries: usize,
    /// `stream-node-max-bytes`
    pub stream_node_max_bytes: usize,
}

/// Makes `limits` the thresholds the data types use.
pub fn publish(limits: &Limits) {
    let set = |cell: &AtomicUsize, n: usize| cell.store(n, Ordering::Relaxed);
    set(&HASH_MAX_LISTPACK_ENTRIES, limits.hash_max_listpack_entries);
    set(&HASH_MAX_LISTPACK_VALUE, limits.hash_max_listpack_value);
    set(&SET_MAX_INTSET_ENTRIES, limits.set_max_intset_entries);
    set(&ZSET_MAX_LISTPACK_ENTRIES, limits.zset_max_listpack_entries);
    set(&ZSET_MAX_LISTPACK_VALUE, limits.zset_max_listpack_value);
    set(&HLL_SPARSE_MAX_BYTES, limits.hll_sparse_max_bytes);
    LIST_MAX_LISTPACK_SIZE.store(limits.list_max_listpack_size, Ordering::Relaxed);
    set(&STREAM_NODE_MAX_ENTRIES, limits.stream_node_max_entries);
    set(&STREAM_NODE_MAX_BYTES, limits.stream_node_max_bytes);
}

/// `stream-node-max-entries` (100): most entries of a stream node (see `store::stream`).
pub(crate) fn stream_node_max_entries() -> usize {
    STREAM_NODE_MAX_ENTRIES.load(Ordering::Relaxed)
}

/// `stream-node-max-bytes` (4096): the largest stream node.
pub(crate) fn stream_node_max_bytes() -> usize {
    STREAM_NODE_MAX_BYTES.load(Ordering::Relaxed)
}

/// `list-max-listpack-size` (-2): how Redis splits a list into listpack nodes, which respd
/// reproduces when it writes a list to DUMP or RDB (see `persistence::rdb`).
pub(crate) fn list_max_listpack_size() -> i64 {
    LIST_MAX_LISTPACK_SIZE.load(Ordering::Relaxed)
}

/// `hash-max-listpack-entries` (512).
pub(crate) fn hash_max_listpack_entries() -> usize {
    HASH_MAX_LISTPACK_ENTRIES.load(Ordering::Relaxed)
}

/// `hash-max-listpack-value` (64).
pub(crate) fn hash_max_listpack_value() -> usize {
    HASH_MAX_LISTPACK_VALUE.load(Ordering::Relaxed)
}

/// `hll-sparse-max-bytes` (3000): the longest a sparse HyperLogLog string may grow.
pub(crate) fn hll_sparse_max_bytes() -> usize {
    HLL_SPARSE_MAX_BYTES.load(Ordering::Relaxed)
}

/// `set-max-intset-entries` (512).
pub(crate) fn set_max_intset_entries() -> usize {
    SET_MAX_INTSET_ENTRIES.load(Ordering::Relaxed)
}

/// `zset-max-listpack-entries` (128).
pub(crate) fn zset_max_listpack_entries() -> usize {
    ZSET_MAX_LISTPACK_ENTRIES.load(Ordering::Relaxed)
}

/// `zset-max-listpack-value` (64).
pub(crate) fn zset_max_listpack_value() -> usize {
    ZSET_MAX_LISTPACK_VALUE.load(Ordering::Relaxed)
}
