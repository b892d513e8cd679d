//! `Dict`: the chained hash table behind the keyspace and the hash, set and sorted-set types.
//!
//! This mirrors Redis's `dict.c`: an array of buckets whose length is a power of two, each
//! bucket a singly linked chain of entries, the bucket chosen by `hash & mask`.
//!
//! # Why not `std::collections::HashMap`?
//!
//! `HashMap` is a fine map, but it cannot do three things Redis commands rely on:
//!
//! 1. **A resumable, stateless cursor with Redis's guarantee.** `SCAN`, `HSCAN`, `SSCAN` and
//!    `ZSCAN` hand the client a number; the client sends it back later, and by then the table may
//!    have grown or shrunk. Redis promises that every element present for the whole scan is
//!    returned at least once. `dictScan` gets this from a *reverse-binary* cursor over a
//!    power-of-two bucket array (see [`Dict::scan`]); `HashMap` exposes neither its buckets nor
//!    a stable order across resizes.
//! 2. **A random element in O(1) expected time** (`RANDOMKEY`, `SRANDMEMBER`, `SPOP`,
//!    `HRANDFIELD`): a uniform pick among the entries of a few consecutive buckets from a
//!    random starting one, like `dictGetFairRandomKey` ([`Dict::random_entry`]). With a
//!    `HashMap` the only way is `iter().nth(random)`, which is O(n).
//! 3. **A cheap batch of nearby random entries** for sampling, like `dictGetSomeKeys`
//!    ([`Dict::sample`]).
//!
//! # Hashing
//!
//! Keys are hashed with [`RandomState`] (SipHash-1-3 with random keys, different for every
//! dict), which plays the role of Redis's seeded siphash: a client cannot precompute keys that all land in one
//! bucket (hash flooding). Each entry caches its 64-bit hash. Redis does not do that (it saves
//! the 8 bytes), but here it buys two things: resizing never calls the hasher again (it only
//! re-masks the stored hashes, which keeps the all-at-once rehash pause short), and a chain walk
//! compares the cached hashes before calling the possibly expensive `Eq` on the keys.
//!
//! # Resize policy
//!
//! * **Lazy allocation.** An empty `Dict` owns no buckets; the first insert allocates 4, Redis's
//!   `DICT_HT_INITIAL_SIZE`.
//! * **Grow at load factor 1.** When an insert would make `len > buckets`, the bucket array
//!   doubles (to the next power of two ≥ `len + 1`, exactly what Redis 7.0's
//!   `_dictExpandIfNeeded` does with `dictExpand(d, used + 1)`). The average chain stays at
//!   most one entry long, so lookups stay O(1).
//! * **Shrink below 1/8 full.** When a removal leaves `len < buckets / 8` (and there are more
//!   than 4 buckets), the array shrinks to the next power of two ≥ `len` (at least 4). This is
//!   Redis's `HASHTABLE_MIN_FILL` idea (10% there; 1/8 here because it is a shift and close).
//!   Two reasons for the number: memory (a huge, mostly empty bucket array is waste after a mass
//!   `DEL`), and [`Dict::random_entry`], whose cost grows with the empty buckets it walks past:
//!   at ≥ 1/8 fill its window of 15 entries spans about 120 buckets at worst. The wide gap between the
//!   grow threshold (1) and the shrink threshold (1/8) is the hysteresis that stops a table
//!   sitting near a boundary from resizing back and forth: the O(len) cost of a resize is paid
//!   for by the Ω(len) inserts or removals it takes to cross a threshold, so resizing is
//!   amortized O(1) per operation. Redis shrinks from `serverCron`
//!   (and after deletes in the hash/set/zset types); respd has no cron pass over every table,
//!   so it checks on removal.
//! * **All at once, not incremental.** Redis rehashes incrementally: it keeps two tables and
//!   moves a few buckets on every operation, so a single command never pays for a whole resize.
//!   `Dict` moves every entry in one go. It is far simpler (one table, no "which table is this
//!   key in" on every lookup, no two-table scan logic), and the cost is a single O(n) pause,
//!   taken under the write lock, when the table doubles or shrinks: amortized O(1) per insert.
//!   Entries are moved, not reallocated: the boxed nodes are relinked into the new array.
//!
//! Because the bucket count is always a power of two, an entry in bucket `i` of a table with
//! mask `m` lands, after any resize to mask `m'`, in a bucket that agrees with `i` on the low
//! bits both masks share. That property, not the order inside a chain, is what the scan cursor
//! relies on; new entries are pushed at the head of their chain like `dictAdd` does.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

/// Redis's `DICT_HT_INITIAL_SIZE`: the bucket count of a freshly allocated table and the floor
/// below which a table never shrinks.
const INITIAL_BUCKETS: usize = 4;

/// Shrink when fewer than `1 / MIN_FILL_DIVISOR` of the bucket count are in use.
const MIN_FILL_DIVISOR: usize = 8;

/// How many neighbouring entries [`Dict::random_entry`] chooses among (Redis's
/// `GETFAIR_NUM_ENTRIES`).
const FAIR_RANDOM_WINDOW: usize = 15;

/// [`Dict::sample`] gives up after this many empty buckets per requested entry.
const SAMPLE_EMPTY_BUCKETS_PER_ENTRY: usize = 10;

/// One entry (Redis's `dictEntry`): the key, the value, the cached hash and the rest of the
/// chain.
///
/// A lookup that walks a chain reads `hash`, `next` and the key of every node it passes, and
/// the value of only the one it finds. `repr(C)` keeps the fields in this order so that those
/// three sit together at the front of the node, usually in one cache line: a node that is not
/// the one looked for then costs one cache miss, not two. (Left to itself the compiler put the
/// hash after the value, 170 bytes into the node.) On a keyspace that does not fit in the
/// CPU caches, those misses are most of what a GET costs.
#[repr(C)]
struct Node<K, V> {
    hash: u64,
    next: Link<K, V>,
    key: K,
    value: V,
}

/// A bucket, or the tail of a chain: `None` ends the chain.
type Link<K, V> = Option<Box<Node<K, V>>>;

/// Drops a chain one node at a time.
///
/// The derived drop of `Box<Node>` recurses into `next`, one stack frame per node; a long chain
/// (only possible with a broken or adversarial hash, but still) would overflow the small stacks
/// of worker threads. Unlinking each node before it is dropped keeps the depth constant.
fn drop_chain<K, V>(mut link: Link<K, V>) {
    while let Some(mut node) = link {
        link = node.next.take();
    }
}

/// A uniformly distributed number in `0..n` (`n > 0`), taken from the high bits of
/// [`crate::util::random_u64`] by a multiply-shift, which are the better bits of xorshift64*.
fn random_below(n: usize) -> usize {
    ((u128::from(crate::util::random_u64()) * n as u128) >> 64) as usize
}

/// The bucket index of `hash` in a table of `buckets` buckets (a power of two).
#[inline]
fn bucket_of(hash: u64, buckets: usize) -> usize {
    (hash as usize) & (buckets - 1)
}

/// A chained hash table with Redis's SCAN cursor and random-element operations.
///
/// The API follows `HashMap` where it overlaps (lookups accept any borrowed form of the key, so
/// a `Dict<String, _>` can be queried with a `&str`), plus [`scan`](Dict::scan),
/// [`random_entry`](Dict::random_entry) and [`sample`](Dict::sample). See the
/// [module documentation](self) for the resize policy.
pub struct Dict<K, V> {
    /// Power-of-two length, or empty before the first insert.
    buckets: Vec<Link<K, V>>,
    /// Number of entries (Redis's `used`).
    len: usize,
    /// Per-dict SipHash keys.
    hasher: RandomState,
}

impl<K, V> Dict<K, V> {
    /// An empty dict. No buckets are allocated until the first insert.
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
            hasher: RandomState::new(),
        }
    }

    /// An empty dict with room for `n` entries before it has to grow (`n == 0` allocates
    /// nothing, like [`Dict::new`]).
    ///
    /// Note that removing entries from a dict that is still far below this capacity can shrink
    /// it: the shrink rule looks only at how full the table is.
    pub fn with_capacity(n: usize) -> Self {
        let mut dict = Self::new();
        if n > 0 {
            dict.buckets = empty_buckets(n.next_power_of_two().max(INITIAL_BUCKETS));
        }
        dict
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dict has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    /// Number of buckets (0 or a power of two), for `DEBUG HTSTATS`-style reporting and tests.
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes one entry's node takes on the heap, as the allocator rounds it (key and value
    /// themselves included only where they are stored inline in the node). For MEMORY USAGE
    /// and INFO's memory estimate, see [`crate::store::memory`].
    pub(crate) fn node_bytes() -> usize {
        super::memory::malloc_size(std::mem::size_of::<Node<K, V>>())
    }

    /// Bytes the bucket array takes on the heap (Redis counts `dictSlots * sizeof(dictEntry*)`).
    pub(crate) fn table_bytes(&self) -> usize {
        super::memory::malloc_size(self.buckets.capacity() * std::mem::size_of::<Link<K, V>>())
    }

    /// Removes every entry and frees the bucket array (like Redis's `dictEmpty`, used by
    /// `FLUSHDB`): a flushed database should give its memory back.
    pub fn clear(&mut self) {
        for bucket in &mut self.buckets {
            drop_chain(bucket.take());
        }
        self.buckets = Vec::new();
        self.len = 0;
    }

    /// Makes room for `additional` more entries without growing, at load factor 1.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let wanted = self.len.saturating_add(additional);
        if wanted > self.buckets.len() {
            self.resize(wanted.next_power_of_two().max(INITIAL_BUCKETS));
        }
    }

    #[cfg(test)]
    /// Shrinks the bucket array to the smallest power of two (at least 4) that holds the current
    /// entries at load factor 1; an empty dict frees its buckets entirely. The automatic policy
    /// only shrinks below 1/8 full; this is for callers that know the dict will stay small.
    pub(crate) fn shrink_to_fit(&mut self) {
        if self.len == 0 {
            self.buckets = Vec::new();
            return;
        }
        let target = self.len.next_power_of_two().max(INITIAL_BUCKETS);
        if target < self.buckets.len() {
            self.resize(target);
        }
    }

    /// Iterates over `(&key, &value)` in bucket order (arbitrary, but the same as `scan`'s
    /// within one bucket).
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            buckets: self.buckets.iter(),
            node: None,
            remaining: self.len,
        }
    }

    /// Iterates over `(&key, &mut value)`.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            buckets: self.buckets.iter_mut(),
            node: None,
            remaining: self.len,
        }
    }

    /// Iterates over the keys.
    pub fn keys(&self) -> Keys<'_, K, V> {
        Keys { inner: self.iter() }
    }

    /// Iterates over the values.
    pub fn values(&self) -> Values<'_, K, V> {
        Values { inner: self.iter() }
    }

    /// Iterates over the values, mutably.
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut {
            inner: self.iter_mut(),
        }
    }

    /// Keeps only the entries for which `f` returns `true`, then shrinks the table if it fell
    /// below 1/8 full.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for bucket in &mut self.buckets {
            let mut cursor: &mut Link<K, V> = bucket;
            loop {
                let keep = match cursor.as_deref_mut() {
                    None => break,
                    Some(node) => f(&node.key, &mut node.value),
                };
                if keep {
                    // Step past the kept node. `cursor` is `Some` here.
                    if let Some(node) = cursor {
                        cursor = &mut node.next;
                    }
                } else if let Some(mut removed) = cursor.take() {
                    // Unlink first, so a panic in `f` later (or in the value's Drop) leaves a
                    // well-formed table with an accurate `len`.
                    *cursor = removed.next.take();
                    self.len -= 1;
                    drop(removed);
                }
            }
        }
        self.shrink_if_needed();
    }

    /// Removes every entry, returning them as an owning iterator. The dict is left empty with
    /// no buckets, as after [`clear`](Dict::clear); entries not consumed are dropped with the
    /// iterator.
    pub fn drain(&mut self) -> IntoIter<K, V> {
        let buckets = std::mem::take(&mut self.buckets);
        let remaining = std::mem::replace(&mut self.len, 0);
        IntoIter {
            buckets: buckets.into_iter(),
            node: None,
            remaining,
        }
    }

    /// One step of a `SCAN`: calls `f` on every entry of the bucket(s) addressed by `cursor` and
    /// returns the next cursor. Start with 0; the scan is complete when 0 is returned again.
    ///
    /// This is Redis's `dictScan` for a table that is not being rehashed. The trick is how the
    /// cursor advances: instead of `cursor + 1`, the cursor's bits are *reversed*, incremented,
    /// and reversed back, i.e. the cursor is incremented from its high (masked) bit downwards.
    /// Buckets are therefore visited in an order where, for any power-of-two size, all buckets
    /// sharing a given low-bit pattern are visited consecutively. When the table doubles, bucket
    /// `i` splits into `i` and `i + size`, both of which the reversed counter has yet to visit
    /// if it had not finished `i`, and neither if it had; when it halves, buckets `i` and
    /// `i + size/2` merge into one that is visited (again, if one half was already done). So an
    /// entry present for the whole scan is never skipped, and duplicates are only possible
    /// across a shrink. Setting the bits above the mask before incrementing (`cursor | !mask`)
    /// makes the carry flow into the bits that matter.
    ///
    /// The caller is expected to loop (as Redis's `SCAN ... COUNT` does) until it has collected
    /// enough entries or the cursor returns to 0. An empty dict always returns 0.
    pub(crate) fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut link = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(node) = link {
            f(&node.key, &node.value);
            link = node.next.as_deref();
        }
        // Set the unmasked bits so incrementing the reversed cursor carries into masked ones.
        let v = cursor | !mask;
        v.reverse_bits().wrapping_add(1).reverse_bits()
    }

    /// A random entry, or `None` if the dict is empty (Redis's `dictGetFairRandomKey`).
    ///
    /// Picking a random non-empty bucket and then a random entry of its chain (Redis's
    /// `dictGetRandomKey`) is biased: an entry that shares its bucket with another is picked
    /// half as often as one alone in its bucket. On a ten-member set that is plain to see
    /// (Redis's own suite checks SRANDMEMBER's histogram with a chi-square test, and such a
    /// pick fails it). So, as Redis does for RANDOMKEY, SRANDMEMBER, SPOP and HRANDFIELD, this
    /// looks at a window of up to [`FAIR_RANDOM_WINDOW`] entries in consecutive buckets from a
    /// random starting bucket and picks one of them uniformly (reservoir sampling, so nothing
    /// is allocated). A dict with no more entries than the window is thus sampled exactly
    /// uniformly; a larger one nearly so. Cost: about that many entries visited per draw,
    /// plus the empty buckets between them.
    pub(crate) fn random_entry(&self) -> Option<(&K, &V)> {
        if self.len == 0 {
            return None;
        }
        let buckets = self.buckets.len();
        let start = random_below(buckets);
        let mut chosen: Option<&Node<K, V>> = None;
        let mut seen = 0usize;
        for step in 0..buckets {
            let mut link = self.buckets[(start + step) & (buckets - 1)].as_deref();
            while let Some(node) = link {
                seen += 1;
                // The i-th entry seen replaces the choice with probability 1/i.
                if random_below(seen) == 0 {
                    chosen = Some(node);
                }
                link = node.next.as_deref();
            }
            if seen >= FAIR_RANDOM_WINDOW {
                break;
            }
        }
        chosen.map(|node| (&node.key, &node.value))
    }

    /// Up to `count` distinct entries taken from a random spot in the table (in the spirit of
    /// Redis's `dictGetSomeKeys`), for sampling such as active expiry.
    ///
    /// Starts at a random bucket and walks consecutive buckets, taking whole chains, until it has
    /// `count` entries, has visited every bucket once, or has met `10 * count` empty buckets.
    /// The entries are therefore neighbours in the table, not independent draws: much cheaper
    /// than `count` calls to [`random_entry`](Dict::random_entry), and good enough for
    /// statistics. Unlike Redis's version this never jumps to a second random spot, so the
    /// result never contains the same entry twice. May return fewer than `count` entries (fewer
    /// than `min(count, len)` only if it gave up on empty buckets).
    pub fn sample(&self, count: usize) -> Vec<(&K, &V)> {
        let want = count.min(self.len);
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        let size = self.buckets.len();
        let mut index = random_below(size);
        let mut empty_budget = want.saturating_mul(SAMPLE_EMPTY_BUCKETS_PER_ENTRY);
        for _ in 0..size {
            let mut link = self.buckets[index].as_deref();
            if link.is_none() {
                empty_budget -= 1;
                if empty_budget == 0 {
                    break;
                }
            }
            while let Some(node) = link {
                out.push((&node.key, &node.value));
                if out.len() == want {
                    return out;
                }
                link = node.next.as_deref();
            }
            index = (index + 1) & (size - 1);
        }
        out
    }

    /// Moves every node into a new bucket array of `new_size` (a power of two) buckets.
    ///
    /// Nodes are relinked, not reallocated, and their cached hashes are re-masked, so no key is
    /// hashed again and no `K: Hash` bound is needed.
    fn resize(&mut self, new_size: usize) {
        debug_assert!(new_size.is_power_of_two() && new_size >= self.len);
        let mut new_buckets = empty_buckets(new_size);
        for mut link in std::mem::take(&mut self.buckets) {
            while let Some(mut node) = link {
                link = node.next.take();
                let slot = &mut new_buckets[bucket_of(node.hash, new_size)];
                node.next = slot.take();
                *slot = Some(node);
            }
        }
        self.buckets = new_buckets;
    }

    /// Makes room for one more entry: allocates the initial 4 buckets, or doubles the table when
    /// the new entry would push the load factor above 1.
    fn grow_for_one_more(&mut self) {
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(INITIAL_BUCKETS));
        }
    }

    /// Shrinks the table when it has fallen below 1/8 full (see the module documentation).
    fn shrink_if_needed(&mut self) {
        let size = self.buckets.len();
        if size > INITIAL_BUCKETS && self.len < size / MIN_FILL_DIVISOR {
            self.resize(self.len.next_power_of_two().max(INITIAL_BUCKETS));
        }
    }

    /// Links a new node at the head of its chain (like `dictAdd`) and returns it. The caller
    /// has checked the key is absent; `hash` is the key's hash.
    fn insert_new(&mut self, hash: u64, key: K, value: V) -> &mut Node<K, V> {
        self.grow_for_one_more();
        self.len += 1;
        let size = self.buckets.len();
        let slot = &mut self.buckets[bucket_of(hash, size)];
        let next = slot.take();
        slot.insert(Box::new(Node {
            hash,
            key,
            value,
            next,
        }))
    }
}

/// `n` empty buckets. (`vec![None; n]` would need `Node: Clone`.)
fn empty_buckets<K, V>(n: usize) -> Vec<Link<K, V>> {
    let mut buckets = Vec::with_capacity(n);
    buckets.resize_with(n, || None);
    buckets
}

impl<K: Hash + Eq, V> Dict<K, V> {
    /// The hash of a key, or of any borrowed form of it (`Borrow` promises they agree).
    #[inline]
    fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The node holding `key`, whose hash is `hash`.
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if self.buckets.is_empty() {
            return None;
        }
        let mut link = self.buckets[bucket_of(hash, self.buckets.len())].as_deref();
        while let Some(node) = link {
            if node.hash == hash && node.key.borrow() == key {
                return Some(node);
            }
            link = node.next.as_deref();
        }
        None
    }

    /// The node holding `key`, mutably.
    fn find_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if self.buckets.is_empty() {
            return None;
        }
        let size = self.buckets.len();
        let mut link = self.buckets[bucket_of(hash, size)].as_deref_mut();
        while let Some(node) = link {
            if node.hash == hash && node.key.borrow() == key {
                return Some(node);
            }
            link = node.next.as_deref_mut();
        }
        None
    }

    #[cfg(test)]
    /// How far down its chain the node holding `key` is (0 = bucket head).
    fn chain_position<Q>(&self, hash: u64, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if self.buckets.is_empty() {
            return None;
        }
        let mut link = self.buckets[bucket_of(hash, self.buckets.len())].as_deref();
        let mut depth = 0;
        while let Some(node) = link {
            if node.hash == hash && node.key.borrow() == key {
                return Some(depth);
            }
            depth += 1;
            link = node.next.as_deref();
        }
        None
    }

    /// The value stored under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The value stored under `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.len == 0 {
            return None;
        }
        let hash = self.hash_of(key);
        self.find_mut(hash, key).map(|node| &mut node.value)
    }

    /// The stored key and its value. Useful when the stored key carries more than the lookup
    /// key (or to get at the stored allocation).
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.len == 0 {
            // Skip hashing entirely: common for empty per-type dicts.
            return None;
        }
        let hash = self.hash_of(key);
        self.find(hash, key).map(|node| (&node.key, &node.value))
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).is_some()
    }

    /// Inserts `key → value`. If the key was present, its value is replaced and the old value
    /// returned; the stored key is kept and the new `key` dropped (as `HashMap` does, and as
    /// Redis's `dictReplace` does: the existing entry is updated in place).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hash_of(&key);
        if let Some(node) = self.find_mut(hash, &key) {
            return Some(std::mem::replace(&mut node.value, value));
        }
        self.insert_new(hash, key, value);
        None
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key`, returning the stored key and its value. May shrink the table.
    pub(crate) fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.len == 0 {
            return None;
        }
        let hash = self.hash_of(key);
        let size = self.buckets.len();
        let mut cursor: &mut Link<K, V> = &mut self.buckets[bucket_of(hash, size)];
        loop {
            let found = match cursor.as_deref() {
                None => return None,
                Some(node) => node.hash == hash && node.key.borrow() == key,
            };
            if found {
                break;
            }
            if let Some(node) = cursor {
                cursor = &mut node.next;
            }
        }
        let mut removed = cursor.take()?;
        *cursor = removed.next.take();
        self.len -= 1;
        let Node { key, value, .. } = *removed;
        self.shrink_if_needed();
        Some((key, value))
    }

    #[cfg(test)]
    /// The value under `key`, inserting the entry built by `make` first if the key is absent.
    ///
    /// The key is hashed once. `make` is only called on a miss and must return a key equal to
    /// `key` (typically `key.to_owned()`); it builds the owned key itself so that a hit never
    /// allocates. This is Redis's `dictAddOrFind`: the find-or-create step behind commands such
    /// as `HINCRBY`, `ZINCRBY` or `SADD` on a new member.
    pub(crate) fn get_or_insert_with<Q>(&mut self, key: &Q, make: impl FnOnce() -> (K, V)) -> &mut V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash_of(key);
        // Find the entry's position in its chain with a shared borrow, then walk to it mutably
        // (following `next` pointers only, no key comparisons). Returning the `&mut` straight
        // out of a conditional mutable search is rejected by today's borrow checker.
        let depth = self.chain_position(hash, key);
        match depth {
            Some(depth) => {
                let size = self.buckets.len();
                let mut node = self.buckets[bucket_of(hash, size)]
                    .as_deref_mut()
                    .expect("chain position was just found");
                for _ in 0..depth {
                    node = node
                        .next
                        .as_deref_mut()
                        .expect("chain position was just found");
                }
                &mut node.value
            }
            None => {
                let (owned, value) = make();
                debug_assert!(owned.borrow() == key, "make() built a different key");
                &mut self.insert_new(hash, owned, value).value
            }
        }
    }
}

impl<K, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Drop for Dict<K, V> {
    fn drop(&mut self) {
        // Iteratively, see `drop_chain`.
        for bucket in &mut self.buckets {
            drop_chain(bucket.take());
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Dict<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Clone, V: Clone> Clone for Dict<K, V> {
    /// Copies the table bucket for bucket, chain order included, and shares the hash keys, so
    /// the clone has the same layout (a SCAN cursor means the same thing in both). Built
    /// iteratively into a live `Dict`, so a panicking `clone` of a key or value drops the partial
    /// copy through the iterative `Drop`.
    fn clone(&self) -> Self {
        let mut copy = Dict {
            buckets: empty_buckets(self.buckets.len()),
            len: 0,
            hasher: self.hasher.clone(),
        };
        for (source, target) in self.buckets.iter().zip(copy.buckets.iter_mut()) {
            let mut tail: &mut Link<K, V> = target;
            let mut link = source.as_deref();
            while let Some(node) = link {
                let cloned = Box::new(Node {
                    hash: node.hash,
                    key: node.key.clone(),
                    value: node.value.clone(),
                    next: None,
                });
                tail = &mut tail.insert(cloned).next;
                copy.len += 1;
                link = node.next.as_deref();
            }
        }
        copy
    }
}

impl<K: Hash + Eq, V: PartialEq> PartialEq for Dict<K, V> {
    /// Same entries, regardless of layout or hash keys.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: Hash + Eq, V: Eq> Eq for Dict<K, V> {}

impl<K: Hash + Eq, V> Extend<(K, V)> for Dict<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        // Grow once up front rather than doubling repeatedly. Into a non-empty dict, assume
        // about half the new keys already exist (`HashMap`'s heuristic), so a stream of updates
        // does not leave the table oversized.
        let hinted = iter.size_hint().0;
        self.reserve(if self.is_empty() {
            hinted
        } else {
            hinted.div_ceil(2)
        });
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for Dict<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut dict = Dict::new();
        dict.extend(iter);
        dict
    }
}

impl<K, V> IntoIterator for Dict<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(mut self) -> IntoIter<K, V> {
        self.drain()
    }
}

impl<'a, K, V> IntoIterator for &'a Dict<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut Dict<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

/// Iterator over `(&K, &V)`, from [`Dict::iter`].
pub struct Iter<'a, K, V> {
    buckets: std::slice::Iter<'a, Link<K, V>>,
    node: Option<&'a Node<K, V>>,
    remaining: usize,
}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            buckets: self.buckets.clone(),
            node: self.node,
            remaining: self.remaining,
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            // Don't walk the trailing empty buckets.
            return None;
        }
        loop {
            if let Some(node) = self.node {
                self.node = node.next.as_deref();
                self.remaining -= 1;
                return Some((&node.key, &node.value));
            }
            self.node = self.buckets.next()?.as_deref();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}
impl<K, V> FusedIterator for Iter<'_, K, V> {}

/// Iterator over `(&K, &mut V)`, from [`Dict::iter_mut`].
pub struct IterMut<'a, K, V> {
    buckets: std::slice::IterMut<'a, Link<K, V>>,
    node: Option<&'a mut Node<K, V>>,
    remaining: usize,
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(node) = self.node.take() {
                // Split the node borrow: the key and value go out, `next` stays with us.
                let Node {
                    key, value, next, ..
                } = node;
                self.node = next.as_deref_mut();
                self.remaining -= 1;
                return Some((&*key, value));
            }
            self.node = self.buckets.next()?.as_deref_mut();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}
impl<K, V> FusedIterator for IterMut<'_, K, V> {}

/// Owning iterator over `(K, V)`, from [`Dict::drain`] or `Dict::into_iter`. Entries not
/// consumed are dropped (iteratively) with the iterator.
pub struct IntoIter<K, V> {
    buckets: std::vec::IntoIter<Link<K, V>>,
    node: Link<K, V>,
    remaining: usize,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(mut node) = self.node.take() {
                self.node = node.next.take();
                self.remaining -= 1;
                let Node { key, value, .. } = *node;
                return Some((key, value));
            }
            self.node = self.buckets.next()?;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}
impl<K, V> FusedIterator for IntoIter<K, V> {}

impl<K, V> Drop for IntoIter<K, V> {
    fn drop(&mut self) {
        drop_chain(self.node.take());
        for link in self.buckets.by_ref() {
            drop_chain(link);
        }
    }
}

/// Iterator over `&K`, from [`Dict::keys`].
pub struct Keys<'a, K, V> {
    inner: Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Keys<'a, K, V> {
    type Item = &'a K;

    fn next(&mut self) -> Option<&'a K> {
        self.inner.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Keys<'_, K, V> {}
impl<K, V> FusedIterator for Keys<'_, K, V> {}

/// Iterator over `&V`, from [`Dict::values`].
pub struct Values<'a, K, V> {
    inner: Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Values<'a, K, V> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        self.inner.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Values<'_, K, V> {}
impl<K, V> FusedIterator for Values<'_, K, V> {}

/// Iterator over `&mut V`, from [`Dict::values_mut`].
pub struct ValuesMut<'a, K, V> {
    inner: IterMut<'a, K, V>,
}

impl<'a, K, V> Iterator for ValuesMut<'a, K, V> {
    type Item = &'a mut V;

    fn next(&mut self) -> Option<&'a mut V> {
        self.inner.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for ValuesMut<'_, K, V> {}
impl<K, V> FusedIterator for ValuesMut<'_, K, V> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::random_u64;
    use std::collections::{HashMap, HashSet};
    use std::hash::Hasher;

    #[test]
    fn keyspace_node_stays_small_with_the_chain_fields_in_front() {
        // The README's memory figures and the cache-line argument on `Node` rely on these.
        type KeyspaceNode = Node<crate::store::SmallBytes, crate::store::Entry>;
        assert_eq!(std::mem::size_of::<KeyspaceNode>(), 104);
        assert_eq!(std::mem::offset_of!(KeyspaceNode, hash), 0);
        assert_eq!(std::mem::offset_of!(KeyspaceNode, next), 8);
        assert_eq!(std::mem::offset_of!(KeyspaceNode, key), 16);
    }

    /// Runs a whole SCAN from cursor 0, counting how often each key is returned.
    fn scan_counts<K: Clone + Hash + Eq, V>(dict: &Dict<K, V>) -> HashMap<K, usize> {
        let mut seen = HashMap::new();
        let mut cursor = 0;
        loop {
            cursor = dict.scan(cursor, |k, _| *seen.entry(k.clone()).or_insert(0) += 1);
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn insert_get_remove_replace_with_str_lookups() {
        let mut d: Dict<String, i32> = Dict::new();
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0, "no buckets before the first insert");
        assert_eq!(d.get("a"), None);
        assert_eq!(d.remove("a"), None);

        assert_eq!(d.insert("a".to_string(), 1), None);
        assert_eq!(d.bucket_count(), INITIAL_BUCKETS);
        assert_eq!(d.insert("b".to_string(), 2), None);
        assert_eq!(d.len(), 2);
        assert_eq!(d.get("a"), Some(&1));
        assert_eq!(d.get("b"), Some(&2));
        assert_eq!(d.get("c"), None);
        assert!(d.contains_key("a"));
        assert!(!d.contains_key("c"));

        assert_eq!(d.insert("a".to_string(), 10), Some(1));
        assert_eq!(d.len(), 2);
        assert_eq!(d.get("a"), Some(&10));

        *d.get_mut("b").unwrap() += 5;
        assert_eq!(d.get("b"), Some(&7));
        assert_eq!(d.get_mut("zz"), None);

        assert_eq!(d.get_key_value("a"), Some((&"a".to_string(), &10)));
        assert_eq!(d.remove("a"), Some(10));
        assert_eq!(d.remove("a"), None);
        assert_eq!(d.remove_entry("b"), Some(("b".to_string(), 7)));
        assert!(d.is_empty());
        assert_eq!(d.get("b"), None);
    }

    #[test]
    fn replacing_keeps_the_stored_key() {
        let mut d = Dict::new();
        let mut first = String::with_capacity(100);
        first.push('k');
        d.insert(first, 1);
        d.insert("k".to_string(), 2);
        let (k, v) = d.get_key_value("k").unwrap();
        assert_eq!(*v, 2);
        assert_eq!(k.capacity(), 100, "the original key must be kept");
    }

    #[test]
    fn grows_at_load_factor_one_by_doubling() {
        let mut d = Dict::new();
        for i in 0..4 {
            d.insert(i, ());
        }
        assert_eq!(d.bucket_count(), 4);
        d.insert(4, ());
        assert_eq!(d.bucket_count(), 8);
        for i in 5..1000 {
            d.insert(i, ());
            assert!(d.len() <= d.bucket_count());
            assert!(d.bucket_count() < 2 * d.len().max(4));
        }
        assert_eq!(Dict::<u8, ()>::with_capacity(0).bucket_count(), 0);
        assert_eq!(Dict::<u8, ()>::with_capacity(1).bucket_count(), 4);
        assert_eq!(Dict::<u8, ()>::with_capacity(100).bucket_count(), 128);
    }

    #[test]
    fn get_or_insert_with_calls_make_only_on_a_miss() {
        let mut d: Dict<String, u32> = Dict::new();
        let mut made = 0;
        for word in ["a", "b", "a", "c", "a", "b"] {
            let count = d.get_or_insert_with(word, || {
                made += 1;
                (word.to_string(), 0)
            });
            *count += 1;
        }
        assert_eq!(made, 3);
        assert_eq!(d.get("a"), Some(&3));
        assert_eq!(d.get("b"), Some(&2));
        assert_eq!(d.get("c"), Some(&1));
        // Hits deeper in a chain, and across growth.
        for i in 0..500u32 {
            *d.get_or_insert_with(i.to_string().as_str(), || (i.to_string(), 0)) += i;
        }
        for i in 0..500u32 {
            assert_eq!(
                *d.get_or_insert_with(i.to_string().as_str(), || unreachable!()),
                i
            );
        }
    }

    #[test]
    fn behaves_like_hashmap_under_random_operations() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut model: HashMap<u64, u64> = HashMap::new();
        for step in 0..50_000u64 {
            // Key space that swells and contracts so the table both grows and shrinks.
            let phase = (step / 5_000) % 2;
            let key = random_u64() % if phase == 0 { 2_000 } else { 50 };
            match random_u64() % 5 {
                0 | 1 => assert_eq!(d.insert(key, step), model.insert(key, step)),
                2 => assert_eq!(d.remove(&key), model.remove(&key)),
                3 => assert_eq!(d.get(&key), model.get(&key)),
                _ => {
                    let v = d.get_or_insert_with(&key, || (key, 7));
                    *v += 1;
                    *model.entry(key).or_insert(7) += 1;
                }
            }
            assert_eq!(d.len(), model.len());
            if phase == 1 && random_u64().is_multiple_of(4) {
                // Remove aggressively in the contracting phase.
                let victim = random_u64() % 2_000;
                assert_eq!(d.remove(&victim), model.remove(&victim));
            }
        }
        let collected: HashMap<u64, u64> = d.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(collected, model);
    }

    #[test]
    fn scan_of_a_stable_table_returns_every_key_exactly_once() {
        let d: Dict<u32, ()> = (0..1000).map(|i| (i, ())).collect();
        let seen = scan_counts(&d);
        assert_eq!(seen.len(), 1000);
        assert!(seen.values().all(|&n| n == 1));

        // One call per bucket.
        let mut calls = 0;
        let mut cursor = 0;
        loop {
            calls += 1;
            cursor = d.scan(cursor, |_, _| {});
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(calls, d.bucket_count());

        let empty: Dict<u32, ()> = Dict::new();
        assert_eq!(empty.scan(0, |_, _| panic!("empty")), 0);
        assert_eq!(empty.scan(12345, |_, _| panic!("empty")), 0);
    }

    #[test]
    fn scan_survives_growth_without_duplicates() {
        let mut d: Dict<u64, ()> = Dict::new();
        let stable: Vec<u64> = (0..300).collect();
        for &k in &stable {
            d.insert(k, ());
        }
        let mut seen: HashMap<u64, usize> = HashMap::new();
        let mut extra = 1_000_000u64;
        let mut cursor = 0;
        let start_buckets = d.bucket_count();
        loop {
            cursor = d.scan(cursor, |k, _| *seen.entry(*k).or_insert(0) += 1);
            if cursor == 0 {
                break;
            }
            // Make the table grow a lot between calls. (Only for a while: each call visits one
            // bucket, so a table growing faster than the cursor advances would never finish.)
            if extra >= 1_020_000 {
                continue;
            }
            for _ in 0..(random_u64() % 400) {
                d.insert(extra, ());
                extra += 1;
            }
        }
        assert!(
            d.bucket_count() >= 64 * start_buckets,
            "the table should have grown a lot"
        );
        for k in &stable {
            assert_eq!(seen.get(k), Some(&1), "key {k}");
        }
    }

    #[test]
    fn scan_survives_growth_and_shrinking() {
        for round in 0..8 {
            let mut d: Dict<u64, ()> = Dict::new();
            let stable: Vec<u64> = (0..200).collect();
            for &k in &stable {
                d.insert(k, ());
            }
            let mut extras: Vec<u64> = Vec::new();
            let mut next_extra = 1_000_000u64;
            let mut seen: HashMap<u64, usize> = HashMap::new();
            let mut shrinks = 0;
            let mut cursor = 0;
            let mut calls = 0;
            loop {
                cursor = d.scan(cursor, |k, _| *seen.entry(*k).or_insert(0) += 1);
                calls += 1;
                if cursor == 0 {
                    break;
                }
                assert!(calls < 1_000_000, "scan did not terminate");
                if calls > 200 {
                    // Let the scan finish; see `scan_survives_growth_without_duplicates`.
                } else if random_u64().is_multiple_of(2) {
                    for _ in 0..(random_u64() % 1_500) {
                        extras.push(next_extra);
                        d.insert(next_extra, ());
                        next_extra += 1;
                    }
                } else {
                    let keep = (random_u64() % 4) as usize * extras.len() / 10;
                    while extras.len() > keep {
                        let before = d.bucket_count();
                        d.remove(&extras.pop().unwrap());
                        if d.bucket_count() < before {
                            shrinks += 1;
                        }
                    }
                }
            }
            for k in &stable {
                let n = seen.get(k).copied().unwrap_or(0);
                assert!(n >= 1, "round {round}: key {k} was missed");
                assert!(
                    n <= 1 + shrinks,
                    "round {round}: key {k} seen {n} times, {shrinks} shrinks"
                );
            }
        }
    }

    /// Pearson's chi-square statistic of `counts` against a uniform expectation.
    fn chi_square(counts: &[u32]) -> f64 {
        let total: u32 = counts.iter().sum();
        let expected = f64::from(total) / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum()
    }

    #[test]
    fn random_entry_is_uniform_on_small_and_large_dicts() {
        // Ten keys in 16 buckets: some buckets hold two, which a bucket-then-chain pick
        // favours against (the SRANDMEMBER histogram test of Redis's suite). df = 9: a
        // statistic of 40 has a probability of about 1e-5 under uniformity.
        let mut d: Dict<u32, ()> = Dict::new();
        for k in 0..10 {
            d.insert(k, ());
        }
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            counts[*d.random_entry().unwrap().0 as usize] += 1;
        }
        assert!(chi_square(&counts) < 40.0, "skewed: {counts:?}");

        // A large dict is sampled through a window: checked in ten groups of keys.
        let mut big: Dict<u32, ()> = Dict::new();
        for k in 0..10_000 {
            big.insert(k, ());
        }
        let mut groups = [0u32; 10];
        for _ in 0..50_000 {
            groups[(*big.random_entry().unwrap().0 / 1_000) as usize] += 1;
        }
        assert!(chi_square(&groups) < 40.0, "skewed: {groups:?}");
    }

    #[test]
    fn random_entry_hits_every_key_and_none_when_empty() {
        let mut d: Dict<&str, u32> = Dict::new();
        assert_eq!(d.random_entry(), None);
        for (i, k) in ["a", "b", "c", "d", "e", "f", "g"].into_iter().enumerate() {
            d.insert(k, i as u32);
        }
        let mut hits: HashMap<&str, u32> = HashMap::new();
        for _ in 0..5_000 {
            let (k, v) = d.random_entry().unwrap();
            assert_eq!(d.get(k), Some(v));
            *hits.entry(*k).or_insert(0) += 1;
        }
        assert_eq!(hits.len(), 7);
        assert!(hits.values().all(|&n| n > 200), "badly skewed: {hits:?}");

        for k in ["a", "b", "c", "d", "e", "f", "g"] {
            d.remove(k);
        }
        assert_eq!(d.random_entry(), None);

        // A sparse table (sized for many, holding few) still works.
        let mut sparse: Dict<u32, ()> = Dict::with_capacity(4096);
        sparse.insert(7, ());
        assert_eq!(sparse.random_entry(), Some((&7, &())));
    }

    #[test]
    fn sample_returns_distinct_present_entries() {
        let d: Dict<u32, u32> = (0..1000).map(|i| (i, i * 2)).collect();
        for count in [0, 1, 5, 20, 999, 1000, 5000] {
            let s = d.sample(count);
            assert!(s.len() <= count);
            let distinct: HashSet<u32> = s.iter().map(|(k, _)| **k).collect();
            assert_eq!(distinct.len(), s.len(), "duplicates in sample({count})");
            for (k, v) in &s {
                assert_eq!(d.get(*k), Some(*v));
            }
            if count >= 1000 {
                assert_eq!(s.len(), 1000, "asking for everything returns everything");
            } else if count > 0 {
                assert!(!s.is_empty());
            }
        }
        assert!(Dict::<u32, u32>::new().sample(10).is_empty());
    }

    #[test]
    fn retain_keeps_matching_entries_and_shrinks() {
        let mut d: Dict<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let big = d.bucket_count();
        d.retain(|k, v| {
            *v += 1;
            k % 2 == 0
        });
        assert_eq!(d.len(), 5_000);
        assert!(d.iter().all(|(k, v)| k % 2 == 0 && *v == k + 1));
        assert_eq!(d.bucket_count(), big, "half full: no shrink");
        d.retain(|k, _| k % 1000 == 0);
        assert_eq!(d.len(), 10);
        assert_eq!(
            d.bucket_count(),
            16,
            "shrunk to the next power of two >= len"
        );
        assert_eq!(d.get(&3000), Some(&3001));
        d.retain(|_, _| false);
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), INITIAL_BUCKETS);
    }

    #[test]
    fn drain_into_iter_and_clear() {
        let mut d: Dict<String, usize> = (0..100).map(|i| (i.to_string(), i)).collect();
        let mut drained: Vec<(String, usize)> = d.drain().collect();
        drained.sort_by_key(|(_, v)| *v);
        assert_eq!(drained.len(), 100);
        assert!(drained
            .iter()
            .enumerate()
            .all(|(i, (k, v))| *v == i && *k == i.to_string()));
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0);
        d.insert("again".to_string(), 1);
        assert_eq!(d.get("again"), Some(&1));

        // A partially consumed drain drops the rest.
        let mut d: Dict<String, usize> = (0..100).map(|i| (i.to_string(), i)).collect();
        let mut it = d.drain();
        assert_eq!(it.len(), 100);
        it.next();
        assert_eq!(it.len(), 99);
        drop(it);
        assert!(d.is_empty());

        let d: Dict<u32, u32> = (0..50).map(|i| (i, i)).collect();
        let mut all: Vec<u32> = d.into_iter().map(|(k, _)| k).collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());

        let mut d: Dict<u32, u32> = (0..50).map(|i| (i, i)).collect();
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0);
        assert_eq!(d.iter().count(), 0);
        assert_eq!(d.get(&1), None);
        d.insert(1, 1);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn shrinks_after_many_removals() {
        let mut d: Dict<u64, ()> = Dict::new();
        for i in 0..100_000 {
            d.insert(i, ());
        }
        assert_eq!(d.bucket_count(), 131_072);
        for i in 0..99_990 {
            d.remove(&i);
        }
        assert_eq!(d.len(), 10);
        assert!(d.bucket_count() <= 128, "bucket_count {}", d.bucket_count());
        assert!(d.len() * MIN_FILL_DIVISOR >= d.bucket_count());
        for i in 99_990..100_000 {
            assert!(d.contains_key(&i));
        }
        for i in 99_990..100_000 {
            d.remove(&i);
        }
        assert_eq!(d.bucket_count(), INITIAL_BUCKETS);

        let mut d: Dict<u64, ()> = (0..1000).map(|i| (i, ())).collect();
        d.retain(|k, _| *k < 600);
        assert_eq!(d.bucket_count(), 1024);
        d.shrink_to_fit();
        assert_eq!(d.bucket_count(), 1024.min(600usize.next_power_of_two()));
        d.clear();
        d.shrink_to_fit();
        assert_eq!(d.bucket_count(), 0);
    }

    #[test]
    fn iterators_clone_debug_eq_extend() {
        let mut d: Dict<u32, u32> = (0..100).map(|i| (i, i)).collect();
        assert_eq!(d.iter().len(), 100);
        assert_eq!(d.keys().map(|k| *k as u64).sum::<u64>(), 4950);
        assert_eq!(d.values().map(|v| *v as u64).sum::<u64>(), 4950);
        for (k, v) in d.iter_mut() {
            *v += k;
        }
        for v in d.values_mut() {
            *v += 1;
        }
        for (k, v) in &d {
            assert_eq!(*v, 2 * k + 1);
        }
        for (_, v) in &mut d {
            *v = 0;
        }
        assert!(d.values().all(|v| *v == 0));

        let c = d.clone();
        assert_eq!(c, d);
        assert_eq!(c.bucket_count(), d.bucket_count());
        // Same hash keys and layout: a cursor means the same in both.
        assert_eq!(c.scan(5, |_, _| {}), d.scan(5, |_, _| {}));
        let mut a = Vec::new();
        let mut b = Vec::new();
        c.scan(3, |k, _| a.push(*k));
        d.scan(3, |k, _| b.push(*k));
        assert_eq!(a, b);

        let mut other: Dict<u32, u32> = Dict::new();
        other.extend((0..100).rev().map(|i| (i, 0)));
        assert_eq!(other, d);
        other.insert(5, 1);
        assert_ne!(other, d);

        let small: Dict<&str, i32> = [("x", 1)].into_iter().collect();
        assert_eq!(format!("{small:?}"), r#"{"x": 1}"#);
        assert_eq!(format!("{:?}", Dict::<u8, u8>::default()), "{}");
    }

    #[test]
    fn a_million_inserts_and_removes() {
        const N: u64 = 1_000_000;
        let mut d: Dict<u64, u64> = Dict::new();
        for i in 0..N {
            assert_eq!(d.insert(i, i), None);
        }
        assert_eq!(d.len(), N as usize);
        assert_eq!(d.bucket_count(), (N as usize).next_power_of_two());
        for i in (0..N).step_by(7) {
            assert_eq!(d.get(&i), Some(&i));
        }
        for i in 0..N {
            assert_eq!(d.remove(&i), Some(i), "key {i}");
        }
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), INITIAL_BUCKETS);
    }

    /// A key whose hashes all collide, to build one pathological chain.
    #[derive(Clone, PartialEq, Eq, Debug)]
    struct Collide(u32);

    impl Hash for Collide {
        fn hash<H: Hasher>(&self, state: &mut H) {
            state.write_u8(0);
        }
    }

    #[test]
    fn long_chains_work_and_drop_without_deep_recursion() {
        const N: u32 = 5_000;
        let mut d: Dict<Collide, String> = Dict::new();
        for i in 0..N {
            // `get_or_insert_with` walks the chain once per insert: O(N^2) compares in total,
            // still quick for this N.
            d.get_or_insert_with(&Collide(i), || (Collide(i), i.to_string()));
        }
        assert_eq!(d.len(), N as usize);
        assert_eq!(d.get(&Collide(0)).map(String::as_str), Some("0"));
        assert_eq!(d.get(&Collide(N - 1)).map(String::as_str), Some("4999"));
        // One full bucket among ~32k empty ones: sample may well give up (10 * 3 empty buckets).
        assert!(d.sample(3).len() <= 3);
        assert!(d.random_entry().is_some());

        // Everything that drops, clones or walks a chain, on a tiny stack.
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let copy = d.clone();
                assert_eq!(copy.len(), N as usize);
                assert_eq!(copy.iter().count(), N as usize);
                assert_eq!(scan_counts(&copy).len(), N as usize);
                drop(copy);

                let mut partial = d.clone().into_iter();
                partial.next();
                drop(partial);

                let mut cleared = d.clone();
                cleared.clear();

                let mut retained = d.clone();
                retained.retain(|k, _| k.0 % 2 == 0);
                assert_eq!(retained.len(), N as usize / 2);
                assert_eq!(retained.remove(&Collide(2)), Some("2".to_string()));
                drop(retained);

                drop(d);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
