//! Memory accounting: how many bytes a key and its value take, for MEMORY USAGE, MEMORY STATS
//! and INFO's `used_memory`.
//!
//! Counterpart of Redis `objectComputeSize` and `getMemoryOverheadData` (`object.c`). Redis asks
//! its allocator how big each block really is (`zmalloc_size`); respd runs on the system
//! allocator, which has no such question, so it computes the same figure from what it knows:
//! the size of each Rust structure it allocates, rounded the way glibc's malloc rounds a
//! request ([`malloc_size`]). Everything below is therefore an *estimate* of real allocations,
//! not a measurement, but an honest one: it follows the actual data structures (the keyspace
//! [`Dict`] node that holds the key's [`Entry`], the key's and value's heap buffers, each hash,
//! set or sorted-set member's dict node, the sorted set's skiplist arena, the list's ring
//! buffer), so it grows and shrinks exactly as they do.
//!
//! What one key costs, as MEMORY USAGE reports it:
//! - its node in the database's dict, which holds the key bytes when they are short and the
//!   whole [`Value`] enum (a short string or an integer costs nothing more);
//! - the key's heap buffer when it is too long to sit inline;
//! - for a key with a TTL, its node in the `expires` index and that index's copy of the key;
//! - the value's heap part ([`Value::memory_usage`]).
//!
//! The bucket arrays of the database dicts are shared by all keys; like Redis (which leaves
//! `dictSlots(db->dict)` out of MEMORY USAGE) they count in MEMORY STATS's per-db overhead and
//! in `used_memory`, not in any one key.
//!
//! # Sampling
//! For a list, hash, set, sorted set or stream (its nodes), the per-element part is measured on the first
//! `samples` elements and extrapolated to all of them (`usize::MAX` measures every one): Redis's
//! `MEMORY USAGE key SAMPLES n`, default 5, 0 meaning all.
//!
//! [`Dict`]: super::Dict
//! [`Entry`]: super::Entry

use super::{Db, Dict, Entry, SmallBytes, Value};

/// Bytes glibc's malloc takes for a request of `n` bytes: the request plus its 8-byte chunk
/// header, rounded up to 16, at least 32 (glibc `request2size` with `MINSIZE`); nothing for
/// `n == 0`, since Rust does not allocate empty buffers.
pub(crate) fn malloc_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

/// `measured` bytes for `sampled` elements, scaled to `total` elements (Redis
/// `(double)elesize/samples*len`, truncated as the C assignment truncates).
pub(crate) fn extrapolate(measured: usize, sampled: usize, total: usize) -> usize {
    if sampled == 0 {
        return 0;
    }
    if sampled >= total {
        return measured;
    }
    (measured as f64 / sampled as f64 * total as f64) as usize
}

/// Per-element bytes of a hash or set dict: each entry's node plus the heap buffers
/// `sizes` reports for it, on the first `samples` entries, extrapolated.
fn dict_usage<K, V>(dict: &Dict<K, V>, samples: usize, sizes: impl Fn(&K, &V) -> usize) -> usize {
    let node = Dict::<K, V>::node_bytes();
    let mut sampled = 0;
    let mut bytes = 0;
    for (k, v) in dict.iter().take(samples) {
        bytes += node + sizes(k, v);
        sampled += 1;
    }
    malloc_size(std::mem::size_of::<Dict<K, V>>())
        + dict.table_bytes()
        + extrapolate(bytes, sampled, dict.len())
}

impl Value {
    /// Heap bytes this value owns beyond the [`Value`] itself (which lives in its key's node),
    /// aggregates measured on `samples` elements and extrapolated; see the module docs.
    pub(crate) fn memory_usage(&self, samples: usize) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) => malloc_size(s.heap_capacity()),
            Value::List(list) => {
                // The ring buffer of `Vec` headers, then each element's own buffer.
                let ring = malloc_size(list.capacity() * std::mem::size_of::<Vec<u8>>());
                let mut sampled = 0;
                let mut bytes = 0;
                for item in list.iter().take(samples) {
                    bytes += malloc_size(item.capacity());
                    sampled += 1;
                }
                ring + extrapolate(bytes, sampled, list.len())
            }
            Value::Hash(h) => dict_usage(h, samples, |k, v| {
                malloc_size(k.capacity()) + malloc_size(v.capacity())
            }),
            Value::Set(s) => dict_usage(s, samples, |k, _| malloc_size(k.capacity())),
            Value::ZSet(z) => z.memory_usage(samples),
            Value::Stream(s) => {
                malloc_size(std::mem::size_of::<crate::store::Stream>()) + s.memory_usage(samples)
            }
        }
    }
}

/// Bytes of one keyspace node (key inline or not, the [`Entry`] and its [`Value`]).
fn keyspace_node_bytes() -> usize {
    Dict::<SmallBytes, Entry>::node_bytes()
}

/// Bytes of one node of the `expires` index.
fn expires_node_bytes() -> usize {
    Dict::<SmallBytes, ()>::node_bytes()
}

/// What one key costs, its value included (see the module docs).
fn key_usage(key: &SmallBytes, entry: &Entry, samples: usize) -> usize {
    let mut bytes = keyspace_node_bytes()
        + malloc_size(key.heap_capacity())
        + entry.value.memory_usage(samples);
    if entry.expire_at().is_some() {
        bytes += expires_node_bytes() + malloc_size(key.heap_capacity());
    }
    bytes
}

impl Db {
    /// MEMORY USAGE: the bytes `key` and its value take, aggregates sampled on `samples`
    /// elements; `None` when the key does not exist.
    ///
    /// Like Redis's `memoryCommand` (a bare `dictFind`), this looks at the stored entry
    /// whether or not its TTL has passed, and it does not count as an access.
    pub(crate) fn memory_usage(&self, key: &[u8], samples: usize) -> Option<usize> {
        let (k, entry) = self.entries.get_key_value(key)?;
        Some(key_usage(k, entry, samples))
    }

    /// MEMORY STATS `overhead.hashtable.main`: the keyspace dict's nodes and bucket array.
    pub(crate) fn main_table_overhead(&self) -> usize {
        self.entries.len() * keyspace_node_bytes() + self.entries.table_bytes()
    }

    /// MEMORY STATS `overhead.hashtable.expires`: the `expires` index's nodes and buckets.
    pub(crate) fn expires_table_overhead(&self) -> usize {
        self.expires.len() * expires_node_bytes() + self.expires.table_bytes()
    }

    /// Every byte this database's keys and values take, measured on every element: the
    /// dataset part of INFO's `used_memory`. O(number of elements).
    pub(crate) fn approx_bytes(&self) -> usize {
        self.entries.table_bytes()
            + self.expires.table_bytes()
            + self
                .entries
                .iter()
                .map(|(k, e)| key_usage(k, e, usize::MAX))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malloc_size_rounds_like_glibc() {
        assert_eq!(malloc_size(0), 0);
        assert_eq!(malloc_size(1), 32);
        assert_eq!(malloc_size(24), 32);
        assert_eq!(malloc_size(25), 48);
        assert_eq!(malloc_size(100), 112);
    }

    #[test]
    fn extrapolation_scales_the_sample() {
        assert_eq!(extrapolate(100, 5, 5), 100);
        assert_eq!(extrapolate(100, 5, 50), 1000);
        assert_eq!(extrapolate(0, 0, 50), 0);
    }

    #[test]
    fn usage_grows_with_the_value_and_counts_the_ttl() {
        let mut db = Db::new();
        db.set(b"k", Value::from_slice(b"v"), 0);
        let small = db.memory_usage(b"k", 5).unwrap();
        assert!(small > 0);
        db.set(b"k", Value::from_bytes(vec![b'x'; 1000]), 0);
        let big = db.memory_usage(b"k", 5).unwrap();
        assert!(big >= small + 1000);
        db.set_expire(b"k", Some(u64::MAX / 2), 0);
        assert!(db.memory_usage(b"k", 5).unwrap() > big);
        assert_eq!(db.memory_usage(b"missing", 5), None);
    }

    #[test]
    fn sampling_extrapolates_uniform_lists_exactly() {
        let mut db = Db::new();
        let list: std::collections::VecDeque<Vec<u8>> = (0..100).map(|_| vec![b'a'; 50]).collect();
        db.set(b"l", Value::List(list), 0);
        assert_eq!(db.memory_usage(b"l", 5), db.memory_usage(b"l", usize::MAX));
    }
}
