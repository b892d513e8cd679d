//! The keyspace: sixteen databases of keys, their values and their expiry times.
//!
//! Counterpart of Redis `db.c` (lookups, lazy expiry) and `object.c` (value encodings).
//!
//! # Locking
//! The whole keyspace sits behind one `parking_lot::RwLock` ([`Store`]). The lock is taken in
//! exactly one place, [`crate::cmd::dispatch`], once per command (or once per EXEC, which is
//! what makes a transaction atomic). Handlers receive `&Db` or `&mut Db` and never see the lock.
//! Readers of different clients run in parallel; a writer runs alone, as every command does in
//! single-threaded Redis. No guard is ever held across socket I/O: handlers write replies into
//! memory and the connection sends them after the lock is released.
//!
//! # Expiry
//! A key with a TTL carries its deadline (Unix milliseconds) in its [`Entry`]. Two mechanisms
//! remove expired keys, as in Redis:
//! - *lazily*: every lookup checks the deadline. Under a read lock an expired key is treated
//!   as missing but left in place (it cannot be deleted without the write lock); under the
//!   write lock it is deleted on the spot.
//! - *actively*: [`expire`] runs a background cycle that samples keys with a TTL and deletes
//!   the expired ones, so memory comes back even for keys nobody reads again.

pub mod access;
pub mod dict;
pub mod encoding_limits;
pub mod expire;
pub mod geohash;
pub mod hash;
pub mod memory;
pub mod set;
pub mod small_bytes;
pub mod stream;
pub mod zset;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use dict::Dict;
pub use hash::Hash;
pub use set::Set;
pub use small_bytes::SmallBytes;
pub use stream::{Stream, StreamId};
pub use zset::ZSet;

/// Number of logical databases (Redis `databases` default).
pub const DEFAULT_DATABASES: usize = 16;

/// Key bytes. Keys are binary safe. (Inside a [`Db`] they are stored as [`SmallBytes`], inline
/// when short; this owned form is what commands pass around.)
pub(crate) type Key = Vec<u8>;

/// A value of any Redis type.
///
/// Strings have two representations, mirroring Redis's encodings: an integer that fits an
/// `i64` in canonical form is kept as a number (`OBJECT ENCODING` "int"), anything else as
/// bytes ("embstr" up to 44 bytes, "raw" above, as Redis reports them; and "raw" at any length
/// once edited in place, which the bytes remember: see [`SmallBytes::Raw`]).
///
/// A `Value` sits inside every keyspace node, so its size is paid once per key. The hash, set
/// and sorted-set variants are boxed (their tables are large and live on the heap anyway), which
/// keeps every `Value` at 40 bytes, set by the list variant; a sorted set held inline made each
/// one 136 bytes, strings included.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string holding a canonical 64-bit integer.
    Int(i64),
    /// A string of arbitrary bytes (short ones kept inline, see [`SmallBytes`]).
    Str(SmallBytes),
    /// A list.
    List(VecDeque<Vec<u8>>),
    /// A hash of field → value.
    Hash(Box<Hash>),
    /// A set of members.
    Set(Box<Set>),
    /// A sorted set: members ordered by score.
    ZSet(Box<ZSet>),
    /// A stream: entries ordered by ID, and consumer groups.
    Stream(Box<Stream>),
}

/// Redis `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`: strings up to this length report "embstr".
const EMBSTR_SIZE_LIMIT: usize = 44;

impl Value {
    /// Builds a string value, choosing the integer form when the bytes are a canonical
    /// integer (Redis `tryObjectEncoding`).
    pub fn from_bytes(bytes: Vec<u8>) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = crate::util::parse_i64(&bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(SmallBytes::from_vec(bytes))
    }

    /// Builds a string value from a slice.
    pub fn from_slice(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = crate::util::parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(SmallBytes::from_slice(bytes))
    }

    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_SIZE_LIMIT && !s.is_raw() => "embstr",
            Value::Str(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            // Redis 7.0 keeps small all-integer sets as an "intset"; respd decides from the
            // current members (Redis never converts back; see [`set`]).
            Value::Set(s) if s.is_intset() => "intset",
            Value::Set(_) => "hashtable",
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// True for string values (either representation).
    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_))
    }
}

pub use access::lru_clock;

/// One key's value and metadata.
#[derive(Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Deadline in Unix milliseconds; 0 means no TTL.
    expire_at: u64,
    /// Last access time in seconds (OBJECT IDLETIME), or under an LFU policy the access
    /// counter (see [`access`]). Atomic so that readers holding only the read lock can still
    /// record the access.
    lru: AtomicU32,
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry {
            value: self.value.clone(),
            expire_at: self.expire_at,
            lru: AtomicU32::new(self.lru.load(Ordering::Relaxed)),
        }
    }
}

impl Entry {
    fn new(value: Value, expire_at: u64, now_ms: u64) -> Entry {
        Entry {
            value,
            expire_at,
            lru: AtomicU32::new(access::initial(now_ms)),
        }
    }

    /// The deadline in Unix milliseconds, if the key has a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    /// True when the key's deadline has passed at `now_ms`.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// Seconds since the last access (OBJECT IDLETIME).
    pub(crate) fn idle_seconds(&self, now_ms: u64) -> u64 {
        lru_clock(now_ms).saturating_sub(self.lru.load(Ordering::Relaxed)) as u64
    }

    /// Sets the last access time to `idle` seconds before `now_ms` (RESTORE ... IDLETIME,
    /// Redis `objectSetLRUOrLFU`). An idle time older than the clock's start saturates.
    pub(crate) fn set_idle_seconds(&self, now_ms: u64, idle: u64) {
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        self.lru
            .store(lru_clock(now_ms).saturating_sub(idle), Ordering::Relaxed);
    }

    /// The access counter (OBJECT FREQ under an LFU policy), decayed to `now_ms`.
    pub(crate) fn access_counter(&self, now_ms: u64) -> u32 {
        access::counter(self.lru.load(Ordering::Relaxed), now_ms)
    }

    /// Sets the access counter (RESTORE ... FREQ under an LFU policy).
    pub(crate) fn set_access_counter(&self, now_ms: u64, freq: u8) {
        self.lru
            .store(access::with_counter(freq, now_ms), Ordering::Relaxed);
    }

    fn touch(&self, now_ms: u64) {
        // Two readers touching at once may lose one increment, as an approximate counter
        // allows (Redis has a single thread; respd's readers share the read lock).
        let field = self.lru.load(Ordering::Relaxed);
        self.lru
            .store(access::touched(field, now_ms), Ordering::Relaxed);
    }
}

/// One logical database (SELECT n).
#[derive(Debug, Default)]
pub struct Db {
    entries: Dict<SmallBytes, Entry>,
    /// The keys that have a TTL: a sampling index for the active expiry cycle (Redis keeps the
    /// same set as `db->expires`). The deadline itself lives in the [`Entry`].
    expires: Dict<SmallBytes, ()>,
    /// Keys deleted because their TTL passed (INFO `expired_keys`).
    pub expired_count: u64,
    /// WATCHed keys → the "dirty" flag of every client watching them (Redis
    /// `db->watched_keys`). Any write to such a key sets the flags, which makes those clients'
    /// EXEC fail. A mutex, because WATCH only needs the read lock; writers hold `&mut Db` and
    /// reach the map without locking (`Mutex::get_mut`).
    watchers: Mutex<HashMap<Key, Vec<Arc<AtomicBool>>>>,
    /// Watched keys handed out by [`Db::get_mut`] during the running command, touched only
    /// once the command succeeds ([`Db::settle_watched`]). Redis signals a key after the
    /// command modified it, so a command that fails (WRONGTYPE, a bad argument, an
    /// INCRBYFLOAT that would give infinity...) leaves the watchers alone. Empty unless
    /// someone watches a key that a command looked up for writing, or some client tracks
    /// keys (CLIENT TRACKING).
    maybe_modified: Vec<Key>,
    /// Clients blocked on each key, first come first served (Redis `db->blocking_keys`).
    blocked: HashMap<Key, VecDeque<Arc<crate::blocking::Waiter>>>,
    /// Keys with blocked clients that were created since the last serving (Redis
    /// `server.ready_keys`); see [`crate::blocking`].
    ready: Vec<Key>,
    /// This database's number (SELECT n), for the channels of keyspace notifications.
    index: usize,
    /// Where keyspace notifications go; one queue for all the databases of a keyspace.
    notifier: Arc<crate::notify::Notifier>,
}

impl Db {
    /// An empty database.
    pub fn new() -> Db {
        Db::default()
    }

    /// Number of keys, counting logically expired keys that were not deleted yet (as DBSIZE does in Redis).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with a TTL.
    pub(crate) fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Looks a key up for reading.
    ///
    /// Side effects: records the access time. An expired key is treated as missing, but is
    /// not deleted (that needs the write lock; see the module docs).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let entry = self.entries.get(key)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        entry.touch(now_ms);
        Some(entry)
    }

    /// Looks a key up without recording an access (TYPE-like introspection, OBJECT IDLETIME).
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| !e.is_expired(now_ms))
    }

    /// Shortcut for `get(...).map(|e| &e.value)`.
    pub fn get_value(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get(key, now_ms).map(|e| &e.value)
    }

    /// True when the key exists and has not expired.
    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.peek(key, now_ms).is_some()
    }

    /// This database's number.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Reports keyspace event `name` of `class` (a [`crate::notify`] constant) on `key` of
    /// this database (Redis `notifyKeyspaceEvent`). Costs an atomic load when the class is
    /// not enabled.
    #[inline]
    pub fn notify(&self, class: u32, name: &'static str, key: &[u8]) {
        self.notifier.notify(self.index, class, name, key);
    }

    /// Deletes the key if its TTL has passed, reporting `expired`. Returns true if it was
    /// deleted. Every write path calls this first, so writers never see expired keys.
    pub(crate) fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.entries.get(key) {
            Some(e) if e.is_expired(now_ms) => {
                self.remove(key);
                self.expired_count += 1;
                // mirrors deleteExpiredKeyAndPropagate()
                self.notify(crate::notify::EXPIRED, "expired", key);
                true
            }
            _ => false,
        }
    }

    /// Registers `flag` to be set when `key` is modified (WATCH).
    pub(crate) fn watch(&self, key: &[u8], flag: &Arc<AtomicBool>) {
        self.watchers
            .lock()
            .entry(key.to_vec())
            .or_default()
            .push(flag.clone());
    }

    /// Removes `flag` from `key`'s watchers (UNWATCH, EXEC, DISCARD, disconnect).
    pub(crate) fn unwatch(&self, key: &[u8], flag: &Arc<AtomicBool>) {
        let mut watchers = self.watchers.lock();
        if let Some(list) = watchers.get_mut(key) {
            list.retain(|f| !Arc::ptr_eq(f, flag));
            if list.is_empty() {
                watchers.remove(key);
            }
        }
    }

    /// Queues a blocked client on `key`.
    pub fn block(&mut self, key: &[u8], waiter: &Arc<crate::blocking::Waiter>) {
        self.blocked
            .entry(key.to_vec())
            .or_default()
            .push_back(waiter.clone());
    }

    /// Removes a waiter from the queues of all its keys.
    pub(crate) fn unblock(&mut self, waiter: &Arc<crate::blocking::Waiter>) {
        for key in &waiter.keys {
            if let Some(queue) = self.blocked.get_mut(key) {
                queue.retain(|w| !Arc::ptr_eq(w, waiter));
                if queue.is_empty() {
                    self.blocked.remove(key);
                }
            }
        }
    }

    /// The clients blocked on `key`, longest-waiting first.
    pub fn waiters(&self, key: &[u8]) -> Vec<Arc<crate::blocking::Waiter>> {
        self.blocked
            .get(key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// True when a created key has blocked clients to serve.
    pub(crate) fn has_ready_keys(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next key to serve blocked clients from.
    pub(crate) fn take_ready_key(&mut self) -> Option<Key> {
        self.ready.pop()
    }

    /// Notes that `key` was just created: if clients wait for it, it is ready to serve them
    /// (Redis `signalKeyAsReady`, called from `dbAdd`).
    /// A key was added (Redis `dbAdd`): wakes clients blocked on it and reports `new`.
    fn signal_created(&mut self, key: &[u8]) {
        self.notify(crate::notify::NEW, "new", key);
        if !self.blocked.is_empty()
            && self.blocked.contains_key(key)
            && !self.ready.iter().any(|k| k == key)
        {
            self.ready.insert(0, key.to_vec());
        }
    }

    /// Marks `key` ready for its blocked clients, if it has any, without reporting a new key
    /// (Redis `signalKeyAsReady`): XADD on an existing stream, XGROUP DESTROY, and a stream
    /// deleted or overwritten (blocked XREADGROUP clients then get an error).
    pub(crate) fn signal_ready(&mut self, key: &[u8]) {
        if !self.blocked.is_empty()
            && self.blocked.contains_key(key)
            && !self.ready.iter().any(|k| k == key)
        {
            self.ready.insert(0, key.to_vec());
        }
    }

    /// Marks ready every key with blocked clients that exists now (after SWAPDB brought in
    /// other contents). The serving step checks type and expiry, as it does for any key.
    fn signal_blocked_keys_present(&mut self) {
        let present: Vec<Key> = (self.blocked.keys())
            .filter(|key| self.entries.contains_key(key.as_slice()))
            .cloned()
            .collect();
        for key in present {
            self.signal_created(&key);
        }
    }

    /// Ends a write command for WATCH: the keys it looked up for writing are touched if it
    /// `succeeded`, forgotten otherwise (see `maybe_modified`). The dispatcher calls this
    /// after every write handler, and blocking serving after popping for a waiter.
    pub(crate) fn settle_watched(&mut self, succeeded: bool) {
        if self.maybe_modified.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.maybe_modified);
        if succeeded {
            for key in &keys {
                self.signal_modified(key);
            }
        }
    }

    /// Marks `key` as modified (Redis `signalModifiedKey`): for every client watching it, and
    /// for client-side caching (see [`crate::notify::Notifier::key_modified`]). Costs one
    /// emptiness check and one atomic load when nobody watches or tracks anything.
    fn signal_modified(&mut self, key: &[u8]) {
        self.notifier.key_modified(key);
        let watchers = self.watchers.get_mut();
        if watchers.is_empty() {
            return;
        }
        if let Some(list) = watchers.get(key) {
            for flag in list {
                flag.store(true, Ordering::Release);
            }
        }
    }

    /// True when the key exists but its TTL has passed (it may not be deleted yet).
    pub(crate) fn is_logically_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.entries.get(key).is_some_and(|e| e.is_expired(now_ms))
    }

    /// Looks a key up for writing. An expired key is deleted and reported as missing.
    ///
    /// Side effect: clients WATCHing a key that exists will see it as modified if the
    /// command succeeds ([`Db::settle_watched`]), since the caller may change the value
    /// through the returned reference. A missing key is not touched: a write that finds
    /// nothing (LPOP, LREM, RENAME of a missing key...) changes nothing, and Redis signals a
    /// key only when a command modified it (`signalModifiedKey`).
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        self.expire_if_needed(key, now_ms);
        if !self.entries.contains_key(key) {
            return None;
        }
        let watchers = self.watchers.get_mut();
        if (!watchers.is_empty() && watchers.contains_key(key))
            || self.notifier.tracks_modifications()
        {
            self.maybe_modified.push(key.to_vec());
        }
        let entry = self.entries.get_mut(key)?;
        entry.touch(now_ms);
        Some(entry)
    }

    /// Shortcut for `get_mut(...).map(|e| &mut e.value)`.
    pub fn get_value_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        self.get_mut(key, now_ms).map(|e| &mut e.value)
    }

    /// Sets a key to `value`, dropping any TTL it had (what SET does without KEEPTTL).
    pub fn set(&mut self, key: &[u8], value: Value, now_ms: u64) {
        self.insert_entry(key, value, 0, now_ms);
    }

    /// Sets a key to `value` with a deadline (`Some(ms)`) or none.
    pub fn set_with_expire(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<u64>,
        now_ms: u64,
    ) {
        self.insert_entry(key, value, expire_at.unwrap_or(0), now_ms);
    }

    /// Replaces the value of a key, keeping its TTL (SET KEEPTTL, APPEND, INCR, SETRANGE...).
    /// Creates the key without TTL if missing.
    pub(crate) fn set_keep_ttl(&mut self, key: &[u8], value: Value, now_ms: u64) {
        match self.get_mut(key, now_ms) {
            Some(entry) => entry.value = value,
            None => self.insert_entry(key, value, 0, now_ms),
        }
    }

    fn insert_entry(&mut self, key: &[u8], value: Value, expire_at: u64, now_ms: u64) {
        self.signal_modified(key);
        let entry = Entry::new(value, expire_at, now_ms);
        // One hash and one chain walk, whether the key is new or replaced.
        let had_ttl = match self.entries.insert(SmallBytes::from_slice(key), entry) {
            Some(old) => {
                // An overwritten stream unblocks its XREADGROUP readers (Redis `dbOverwrite`).
                if matches!(old.value, Value::Stream(_)) {
                    self.signal_ready(key);
                }
                old.expire_at != 0
            }
            None => {
                self.signal_created(key);
                false
            }
        };
        match (had_ttl, expire_at != 0) {
            (false, true) => {
                self.expires.insert(SmallBytes::from_slice(key), ());
            }
            (true, false) => {
                self.expires.remove(key);
            }
            _ => {}
        }
    }

    /// Sets or clears the deadline of an existing key. Returns false if the key is missing.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at: Option<u64>, now_ms: u64) -> bool {
        let Some(entry) = self.get_mut(key, now_ms) else {
            return false;
        };
        let had = entry.expire_at != 0;
        entry.expire_at = expire_at.unwrap_or(0);
        match (had, expire_at.is_some()) {
            (false, true) => {
                self.expires.insert(SmallBytes::from_slice(key), ());
            }
            (true, false) => {
                self.expires.remove(key);
            }
            _ => {}
        }
        true
    }

    /// Removes a key (whatever its TTL). Returns its entry if it existed, expired or not.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.signal_modified(key);
        if entry.expire_at != 0 {
            self.expires.remove(key);
        }
        // A deleted stream unblocks its XREADGROUP readers (Redis `dbGenericDelete`).
        if matches!(entry.value, Value::Stream(_)) {
            self.signal_ready(key);
        }
        Some(entry)
    }

    /// Removes a live key; an expired one counts as missing. Returns true if a key was deleted
    /// (DEL's count).
    pub fn delete(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.expire_if_needed(key, now_ms) {
            return false;
        }
        self.remove(key).is_some()
    }

    /// Removes and returns a live key's entry (RENAME, MOVE, GETDEL).
    pub fn take(&mut self, key: &[u8], now_ms: u64) -> Option<Entry> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        self.remove(key)
    }

    /// Inserts a whole entry, keeping its TTL and access time (RENAME, MOVE, COPY, SWAPDB).
    pub fn insert(&mut self, key: Key, entry: Entry) {
        self.signal_modified(&key);
        if !self.entries.contains_key(&key[..]) {
            self.signal_created(&key);
        }
        let ttl = entry.expire_at != 0;
        if let Some(old) = self.entries.get(&key[..]) {
            if old.expire_at != 0 && !ttl {
                self.expires.remove(&key[..]);
            }
        }
        if ttl {
            self.expires.insert(SmallBytes::from_slice(&key), ());
        }
        self.entries.insert(key.into(), entry);
    }

    /// Deletes every key (FLUSHDB). Watchers of keys that were alive see a modification; a
    /// key that had already expired was logically gone, so removing it changes nothing
    /// (Redis 7.0 clears its watcher's "expired" mark instead of failing the EXEC).
    pub fn clear(&mut self, now_ms: u64) {
        self.notifier.all_keys_modified();
        touch_watched_where(self.watchers.get_mut(), |key| {
            is_live(&self.entries, key, now_ms)
        });
        // Readers blocked on a stream that goes away are told so (Redis
        // `scanDatabaseForDeletedStreams`).
        let streams = self.blocked_streams_in(&self.entries);
        self.entries = Dict::new();
        self.expires = Dict::new();
        for key in streams {
            self.signal_ready(&key);
        }
    }

    /// The keys with blocked clients that hold a stream in `entries`.
    fn blocked_streams_in(&self, entries: &Dict<SmallBytes, Entry>) -> Vec<Key> {
        if self.blocked.is_empty() {
            return Vec::new();
        }
        (self.blocked.keys())
            .filter(|key| {
                entries
                    .get(key.as_slice())
                    .is_some_and(|e| matches!(e.value, Value::Stream(_)))
            })
            .cloned()
            .collect()
    }

    /// All entries, including logically expired ones the caller must filter with `now_ms`.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_slice(), e))
    }

    /// One step of a SCAN over the keys (Redis `dictScan` cursor semantics): calls `f` for
    /// every entry in the visited buckets and returns the next cursor, 0 when done.
    pub(crate) fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &Entry)) -> u64 {
        self.entries.scan(cursor, |k, e| f(k, e))
    }

    /// A random live key (RANDOMKEY), or None if there are none. Gives up on a database that
    /// holds only expired keys after a bounded number of tries, as Redis does.
    pub(crate) fn random_key(&self, now_ms: u64) -> Option<&[u8]> {
        for _ in 0..100 {
            let (k, e) = self.entries.random_entry()?;
            if !e.is_expired(now_ms) {
                return Some(k);
            }
        }
        None
    }

    /// Up to `count` neighbouring keys with their entries, taken from every key or, with
    /// `volatile`, from the keys with a TTL only: the candidates of one eviction sample (Redis
    /// `evictionPoolPopulate` calling `dictGetSomeKeys` on `db->dict` or `db->expires`).
    /// Expired keys are included: to eviction they are keys like any other.
    pub(crate) fn sample_for_eviction(&self, count: usize, volatile: bool) -> Vec<(&[u8], &Entry)> {
        if volatile {
            self.expires
                .sample(count)
                .into_iter()
                .filter_map(|(k, _)| self.entries.get_key_value(&k[..]))
                .map(|(k, e)| (&k[..], e))
                .collect()
        } else {
            self.entries
                .sample(count)
                .into_iter()
                .map(|(k, e)| (&k[..], e))
                .collect()
        }
    }

    /// One random key among all, or with `volatile` among those with a TTL (the random
    /// eviction policies; Redis `dictGetRandomKey`).
    pub(crate) fn random_key_for_eviction(&self, volatile: bool) -> Option<&[u8]> {
        if volatile {
            self.expires.random_entry().map(|(k, _)| &k[..])
        } else {
            self.entries.random_entry().map(|(k, _)| &k[..])
        }
    }

    /// Samples up to `count` keys with a TTL and deletes the expired ones. Returns
    /// `(sampled, expired, slowest deletion)`. One step of the active expiry cycle.
    pub(crate) fn expire_sample(
        &mut self,
        count: usize,
        now_ms: u64,
    ) -> (usize, usize, std::time::Duration) {
        let sampled: Vec<Key> = self
            .expires
            .sample(count)
            .into_iter()
            .map(|(k, _)| k.to_vec())
            .collect();
        let mut expired = 0;
        let mut slowest = std::time::Duration::ZERO;
        for key in &sampled {
            let started = std::time::Instant::now();
            if self.expire_if_needed(key, now_ms) {
                expired += 1;
                slowest = slowest.max(started.elapsed());
            }
        }
        (sampled.len(), expired, slowest)
    }
}

/// True when `key` is in `entries` and its TTL has not passed.
fn is_live(entries: &Dict<SmallBytes, Entry>, key: &[u8], now_ms: u64) -> bool {
    entries.get(key).is_some_and(|e| !e.is_expired(now_ms))
}

/// Marks as modified the watched keys for which `changed` is true (FLUSHDB, FLUSHALL,
/// SWAPDB; Redis `touchAllWatchedKeysInDb`, which touches only keys that existed in the
/// emptied database or exist in the one replacing it: flushing a key that was not there
/// changes nothing).
fn touch_watched_where(
    watchers: &HashMap<Key, Vec<Arc<AtomicBool>>>,
    changed: impl Fn(&[u8]) -> bool,
) {
    for (key, flags) in watchers {
        if changed(key) {
            for flag in flags {
                flag.store(true, Ordering::Release);
            }
        }
    }
}

/// All databases together: what one lock protects.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
    notifier: Arc<crate::notify::Notifier>,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Keyspace {
        let notifier = Arc::new(crate::notify::Notifier::default());
        Keyspace {
            dbs: (0..n)
                .map(|index| Db {
                    index,
                    notifier: notifier.clone(),
                    ..Db::default()
                })
                .collect(),
            notifier,
        }
    }

    /// Number of databases.
    pub(crate) fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `i` (the caller has checked the index).
    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    /// Database `i`, mutably.
    pub fn db_mut(&mut self, i: usize) -> &mut Db {
        &mut self.dbs[i]
    }

    /// Two different databases at once, mutably (MOVE, COPY ... DB).
    pub(crate) fn two_dbs_mut(&mut self, a: usize, b: usize) -> (&mut Db, &mut Db) {
        assert_ne!(a, b);
        if a < b {
            let (lo, hi) = self.dbs.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.dbs.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    /// Swaps the contents of two databases (SWAPDB).
    pub fn swap(&mut self, a: usize, b: usize, now_ms: u64) {
        self.dbs.swap(a, b);
        // A database's number stays with its place, not its contents.
        self.dbs[a].index = a;
        self.dbs[b].index = b;
        if a != b {
            // Watchers belong to the database number, not to its contents (as in Redis), so
            // they go back to where they were. A watched key sees a modification if it is
            // alive on either side (Redis `touchAllWatchedKeysInDb`); a key missing or
            // already expired on both sides did not change.
            let (x, y) = self.two_dbs_mut(a, b);
            std::mem::swap(x.watchers.get_mut(), y.watchers.get_mut());
            let (xe, ye) = (&x.entries, &y.entries);
            let changed = |key: &[u8]| is_live(xe, key, now_ms) || is_live(ye, key, now_ms);
            touch_watched_where(x.watchers.get_mut(), changed);
            touch_watched_where(y.watchers.get_mut(), changed);
            // Blocked clients stay in their database number too; a key they wait for that
            // the swap brought in is ready to serve them (Redis `scanDatabaseForReadyKeys`).
            std::mem::swap(&mut x.blocked, &mut y.blocked);
            std::mem::swap(&mut x.ready, &mut y.ready);
            x.signal_blocked_keys_present();
            y.signal_blocked_keys_present();
            // A stream the swap took away from its blocked readers wakes them too (Redis
            // `scanDatabaseForDeletedStreams`).
            for key in x.blocked_streams_in(&y.entries) {
                x.signal_ready(&key);
            }
            for key in y.blocked_streams_in(&x.entries) {
                y.signal_ready(&key);
            }
        }
    }

    /// Every database.
    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// Every database, mutably.
    pub(crate) fn dbs_mut(&mut self) -> &mut [Db] {
        &mut self.dbs
    }
}

/// The lock around the keyspace. See the module docs for the locking rules.
#[derive(Debug)]
pub struct Store {
    keyspace: RwLock<Keyspace>,
    /// The keyspace's notification queue, reachable without the lock.
    notifier: Arc<crate::notify::Notifier>,
}

impl Store {
    /// A store with `databases` empty databases.
    pub fn new(databases: usize) -> Store {
        Store::from_keyspace(Keyspace::new(databases))
    }

    /// A store around an existing keyspace (one loaded from a dump).
    pub(crate) fn from_keyspace(keyspace: Keyspace) -> Store {
        Store {
            notifier: keyspace.notifier.clone(),
            keyspace: RwLock::new(keyspace),
        }
    }

    /// The keyspace's notification queue (see [`crate::notify`]).
    pub(crate) fn notifier(&self) -> &crate::notify::Notifier {
        &self.notifier
    }

    /// Takes the read lock.
    pub fn read(&self) -> RwLockReadGuard<'_, Keyspace> {
        self.keyspace.read()
    }

    /// Takes the write lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, Keyspace> {
        self.keyspace.write()
    }

    /// Number of databases (fixed at start).
    pub(crate) fn db_count(&self) -> usize {
        self.keyspace.read().db_count()
    }
}
